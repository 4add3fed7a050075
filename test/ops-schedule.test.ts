import { type ChildProcess, spawn } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { CLI_BIN, runCli, tempDir } from './helpers/cli.js';
import { startHttpListener, writeOpsProject } from './ops-support.js';

interface SchedulerEvent {
  event: string;
  pipeline?: string;
  status?: string;
  backupId?: string | null;
  [field: string]: unknown;
}

/** `nexus-backup schedule --json` as a child process whose stdout events can be awaited one by one. */
function startScheduler(config: string): {
  child: ChildProcess;
  events: SchedulerEvent[];
  waitFor(predicate: (events: SchedulerEvent[]) => boolean): Promise<void>;
  exited: Promise<number | null>;
  stderr: () => string;
} {
  const child = spawn(process.execPath, [CLI_BIN, 'schedule', '--config', config, '--json'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const events: SchedulerEvent[] = [];
  const waiters: { predicate: (events: SchedulerEvent[]) => boolean; resolve: () => void }[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
    events.push(JSON.parse(line) as SchedulerEvent);
    for (const waiter of [...waiters]) {
      if (waiter.predicate(events)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  });
  const waitFor = (predicate: (events: SchedulerEvent[]) => boolean) =>
    new Promise<void>((resolve, reject) => {
      if (predicate(events)) return resolve();
      waiters.push({ predicate, resolve });
      exited.then((code) => reject(new Error(`scheduler exited (${code}) first:\n${stderr}`)));
    });
  return { child, events, waitFor, exited, stderr: () => stderr };
}

/** Polls until a backup folder without a manifest holds a non-empty file: a run is writing. */
async function waitForPartialBytes(pipelineDir: string): Promise<void> {
  for (;;) {
    for (const folder of await readdir(pipelineDir)) {
      if (folder.startsWith('.')) continue; // .leases: a run's lease, not its bytes
      const names = await readdir(join(pipelineDir, folder)).catch(() => [] as string[]);
      if (names.includes('manifest.json')) continue;
      for (const name of names) {
        const info = await stat(join(pipelineDir, folder, name)).catch(() => undefined);
        if (info && info.size > 0) return;
      }
    }
    await sleep(50);
  }
}

const count = (events: SchedulerEvent[], name: string, status?: string) =>
  events.filter((event) => event.event === name && (status === undefined || event.status === status)).length;

describe('nexus-backup schedule', () => {
  it('runs a pipeline every second without overlap and stops cleanly on SIGTERM mid-run', async () => {
    const dir = await tempDir('schedule');
    // Each run streams 12 chunks of 256 KiB with a 150 ms pause before each: at least 1.8 s, so ticks land mid-run.
    const config = await writeOpsProject(
      dir,
      `plugins: [./slow-source.mjs]
repositories:
  local: ./repo
pipelines:
  slow:
    source: { use: slow, chunks: 12, delayMs: 150 }
    transforms: []
    to: [local]
    schedule: "* * * * * *"
    retention: { keepLast: 10 }
    check: { maxAge: 1h, minSize: 3145728 }
`,
    );
    const scheduler = startScheduler(config);
    await scheduler.waitFor(
      (events) => count(events, 'run-finished', 'success') >= 2 && count(events, 'run-skipped') >= 1,
    );
    // Stop in the middle of the next run, once its partial bytes are on disk (so there is something to clean).
    const startedBefore = count(scheduler.events, 'run-started');
    await scheduler.waitFor((events) => count(events, 'run-started') > startedBefore);
    await waitForPartialBytes(join(dir, 'repo', 'slow'));
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);

    const { events } = scheduler;
    expect(events[0]).toMatchObject({ event: 'scheduled', pipeline: 'slow', schedule: '* * * * * *' });
    // Never two runs of the pipeline at once: starts and finishes alternate, and skips happen only mid-run.
    let inFlight = false;
    for (const event of events) {
      if (event.event === 'run-started') {
        expect(inFlight).toBe(false);
        inFlight = true;
      } else if (event.event === 'run-finished') {
        expect(inFlight).toBe(true);
        inFlight = false;
      } else if (event.event === 'run-skipped') {
        expect(inFlight).toBe(true);
      }
    }
    expect(events.slice(-3).map((event) => event.event)).toEqual(['stopping', 'run-finished', 'stopped']);
    expect(events.at(-3)).toMatchObject({ running: ['slow'] });
    expect(events.at(-2)).toMatchObject({ status: 'failure', interrupted: true, backupId: null });
    const successes = events.filter((event) => event.event === 'run-finished' && event.status === 'success');
    const checks = events.filter((event) => event.event === 'check');
    expect(checks).toHaveLength(successes.length);
    for (const check of checks) expect(check).toMatchObject({ repository: 'local', ok: true, problems: [] });

    // The interrupted run left nothing visible: exactly the finished backups exist, no leftover, no temp file.
    const list = JSON.parse((await runCli(['list', '--from', join(dir, 'repo'), '--json'])).stdout);
    expect(list.incomplete).toEqual([]);
    expect(list.backups.map((backup: { id: string }) => backup.id)).toEqual(
      successes.map((event) => event.backupId),
    );
    const folders = await readdir(join(dir, 'repo', 'slow'));
    expect(folders.sort()).toEqual(successes.map((event) => event.backupId).sort());
    for (const folder of folders) {
      expect((await readdir(join(dir, 'repo', 'slow', folder))).sort()).toEqual([
        'manifest.json',
        'slow.bin',
      ]);
    }
  });

  it('runs the pipeline check after each backup and sends its problems to the config notifiers', async () => {
    const hook = await startHttpListener();
    try {
      const dir = await tempDir('schedule-check');
      // Once a minute, a few seconds from now: one run, and no second one starting as SIGTERM arrives.
      const second = (new Date().getSeconds() + 4) % 60;
      const config = await writeOpsProject(
        dir,
        `plugins: [./slow-source.mjs]
pipelines:
  slow:
    source: { use: slow, chunks: 2, delayMs: 10 }
    transforms: []
    to: [./repo]
    schedule: "${second} * * * * *"
    check: { maxAge: 1h, minSize: 1000000 } # more than the 512 KiB a run stores
notify:
  - { url: "${hook.url}/hook", on: [failure] }
`,
      );
      const scheduler = startScheduler(config);
      await scheduler.waitFor((events) => count(events, 'run-finished') >= 1);
      scheduler.child.kill('SIGTERM');
      expect(await scheduler.exited).toBe(0);
      const check = scheduler.events.find((event) => event.event === 'check');
      expect(check).toMatchObject({ pipeline: 'slow', ok: false });
      expect((check?.problems as string[] | undefined)?.[0]).toMatch(
        /^slow: too small: newest backup \S+ stores 524288 bytes/,
      );
      // The backup itself succeeded (no failure post for it); the failed check was posted.
      expect(hook.requests).toHaveLength(1);
      const text = JSON.parse(hook.requests[0]?.body ?? '').text as string;
      expect(text).toContain('nexus-backup check of');
      expect(text).toContain('- slow: too small');
    } finally {
      await hook.close();
    }
  });

  it('refuses a schedule that is not a cron expression, naming the pipeline', async () => {
    const dir = await tempDir('schedule-bad');
    const config = await writeOpsProject(
      dir,
      `plugins: [./slow-source.mjs]
pipelines:
  slow:
    source: { use: slow }
    to: [./repo]
    schedule: "every night at two"
`,
    );
    const result = await runCli(['schedule', '--config', config]);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('pipelines.slow.schedule: "every night at two" is not a cron expression');
  });

  it('refuses a config in which no pipeline has a schedule', async () => {
    const dir = await tempDir('schedule-none');
    const config = await writeOpsProject(
      dir,
      'pipelines:\n  config:\n    source: { use: files, paths: [.env] }\n    to: [./repo]\n',
    );
    const result = await runCli(['schedule', '--config', config]);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('has a schedule');
  });
});
