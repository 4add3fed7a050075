import { mkdir } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import {
  backupArgs,
  backupIdOf,
  type ChaosRepo,
  chaosRepo,
  expectEveryListedBackupVerifies,
  FULL,
  restoredGeneration,
} from './repository-support.js';

// Issue 12 (1): prune with --grace 0 running in a loop next to running backups never removes a running
// backup's objects; every backup that reports success is listed intact, verifies and restores.

const BACKUPS_PER_PIPELINE = FULL ? 25 : 4;
const BLOB_BYTES = FULL ? 4 * 1024 * 1024 : 2 * 1024 * 1024;

let chaos: ChaosRepo | undefined;
afterEach(async () => {
  await chaos?.dispose();
  chaos = undefined;
});

describe('concurrent backup and prune --grace 0', () => {
  it(`${BACKUPS_PER_PIPELINE} backups in each of two pipelines while prune --keep-last 2 --grace 0 loops: every backup succeeds, every listed backup verifies and restores`, {
    timeout: FULL ? 1_800_000 : 300_000,
  }, async () => {
    chaos = await chaosRepo(BLOB_BYTES);
    const repo = chaos;
    // The repository exists before the loops start (prune of a missing repository is an error).
    await mkdir(repo.repo, { recursive: true });
    const succeeded = new Set<string>();
    let backupsRunning = true;
    const backupLoop = async (pipeline: string) => {
      for (let run = 1; run <= BACKUPS_PER_PIPELINE; run += 1) {
        if (pipeline === 'app') await repo.setGeneration(run);
        const folder = pipeline === 'app' ? 'data' : 'static';
        const backup = await runCli(backupArgs(repo, pipeline, folder), { cwd: repo.work });
        expect(backup.code, `${pipeline} backup ${run}\n${backup.stderr}`).toBe(0);
        const id = backupIdOf(backup.stderr, pipeline);
        expect(id, backup.stderr).toBeDefined();
        succeeded.add(`${pipeline}@${id}`);
      }
    };
    const pruneLoop = async () => {
      let prunes = 0;
      while (backupsRunning || prunes === 0) {
        const prune = await runCli([
          'prune',
          '--from',
          repo.repo,
          '--keep-last',
          '2',
          '--grace',
          '0',
          '--json',
        ]);
        expect(prune.code, `prune ${prunes}\n${prune.stderr}`).toBe(0);
        prunes += 1;
      }
      return prunes;
    };
    const backups = Promise.all([backupLoop('app'), backupLoop('db')]).finally(() => {
      backupsRunning = false;
    });
    const [, prunes] = await Promise.all([backups, pruneLoop()]);
    expect(prunes).toBeGreaterThan(0);

    // One more prune after the last backup: exactly the two newest of each pipeline remain.
    expect((await runCli(['prune', '--from', repo.repo, '--keep-last', '2', '--grace', '0'])).code).toBe(0);
    const listed = await expectEveryListedBackupVerifies(repo, 'after the loops');
    expect(listed.incomplete).toEqual([]);
    for (const pipeline of ['app', 'db']) {
      const ids = listed.backups.filter((backup) => backup.pipeline === pipeline).map((backup) => backup.id);
      expect(ids).toHaveLength(2);
      for (const id of ids) expect(succeeded.has(`${pipeline}@${id}`)).toBe(true);
    }
    // The newest app backup holds the last generation stamped; every listed backup restores.
    const newestApp = listed.backups.filter((backup) => backup.pipeline === 'app').at(-1);
    expect(await restoredGeneration(repo, `app@${newestApp?.id}`)).toBe(String(BACKUPS_PER_PIPELINE));
    for (const backup of listed.backups) await restoredGeneration(repo, `${backup.pipeline}@${backup.id}`);
  });
});
