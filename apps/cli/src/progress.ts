import { formatBytes, type Logger, type ProgressSink } from '@nexus-backup/core';
import cliProgress from 'cli-progress';

/**
 * Progress on a terminal (bytes, rate, ETA from cli-progress); one plain log line per artifact otherwise,
 * so cron mail and log files stay readable.
 */
export function createProgress(log: Logger, interactive: boolean): ProgressSink {
  let bar: cliProgress.SingleBar | undefined;
  let label = '';
  let bytes = 0;
  let started = 0;
  return {
    start(name, expectedBytes) {
      label = name;
      bytes = 0;
      started = Date.now();
      if (interactive) {
        bar = new cliProgress.SingleBar(
          {
            format: expectedBytes
              ? `${name} [{bar}] {percentage}% {done} at {rate}/s, ETA {eta_formatted}`
              : `${name} {done} at {rate}/s`,
            stream: process.stderr,
            hideCursor: true,
            clearOnComplete: true,
          },
          cliProgress.Presets.shades_classic,
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
