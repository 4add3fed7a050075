import { createRequire } from 'node:module';
import { formatBytes, type Logger, type ProgressSink } from '@nexus-backup/core';
import type cliProgressModule from 'cli-progress';

/** Loaded when a bar is first drawn: runs from cron never draw one, and the load costs ~18 ms of a start. */
let cliProgress: typeof cliProgressModule | undefined;
const loadCliProgress = (): typeof cliProgressModule =>
  (cliProgress ??= createRequire(import.meta.url)('cli-progress') as typeof cliProgressModule);

/**
 * Progress on a terminal (bytes, rate, ETA from cli-progress); one plain log line per artifact otherwise,
 * so cron mail and log files stay readable.
 */
export function createProgress(log: Logger, interactive: boolean): ProgressSink {
  let bar: cliProgressModule.SingleBar | undefined;
  let label = '';
  let bytes = 0;
  let started = 0;
  return {
    start(name, expectedBytes) {
      label = name;
      bytes = 0;
      started = Date.now();
      if (interactive) {
        const { SingleBar, Presets } = loadCliProgress();
        bar = new SingleBar(
          {
            format: expectedBytes
              ? `${name} [{bar}] {percentage}% {done} at {rate}/s, ETA {eta_formatted}`
              : `${name} {done} at {rate}/s`,
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: true,
          },
          Presets.shades_classic,
        );
        bar.start(expectedBytes || 1, 0, { done: formatBytes(0), rate: formatBytes(0) });
      }
    },
    advance(count) {
      bytes += count;
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      bar?.update(bytes, { done: formatBytes(bytes), rate: formatBytes(bytes / seconds) });
    },
    done() {
      bar?.stop();
      bar = undefined;
      const seconds = Math.max((Date.now() - started) / 1000, 0.001);
      log.info(
        `${label}: ${formatBytes(bytes)} in ${seconds.toFixed(1)} s (${formatBytes(bytes / seconds)}/s)`,
      );
    },
  };
}
