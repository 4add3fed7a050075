import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import {
  backupArgs,
  type ChaosRepo,
  chaosRepo,
  expectEveryListedBackupVerifies,
  FULL,
  killAfter,
  restoredGeneration,
} from './repository-support.js';

// Issue 12 (1, 3): kill -9 of backup and of prune at random moments never leaves a listed backup
// that does not verify, and never a pipeline without its newest good backup.

const KILLS = FULL ? 25 : 4;
const BLOB_BYTES = FULL ? 4 * 1024 * 1024 : 2 * 1024 * 1024;
/** Random kill moments spread over a typical run of the CLI on this kind of machine (start-up included). */
const MAX_DELAY_MS = FULL ? 2500 : 1500;

let chaos: ChaosRepo | undefined;
afterEach(async () => {
  await chaos?.dispose();
  chaos = undefined;
});

const randomDelay = () => Math.floor(Math.random() * MAX_DELAY_MS);

describe('kill -9 at random moments', () => {
  it(`${KILLS} killed backups and ${KILLS} killed prunes between good backups: list shows only backups that verify, and the newest good one survives`, {
    timeout: FULL ? 1_800_000 : 300_000,
  }, async () => {
    chaos = await chaosRepo(BLOB_BYTES);
    const repo = chaos;
    let newestGood: { id: string; generation: number } | undefined;
    const goodBackup = async (generation: number) => {
      await repo.setGeneration(generation);
      const made = await runCli([...backupArgs(repo, 'app'), '--json'], { cwd: repo.work });
      expect(made.code, made.stderr).toBe(0);
      newestGood = { id: JSON.parse(made.stdout).id, generation };
    };
    await goodBackup(0);
    const moments: string[] = [];
    for (let round = 1; round <= KILLS; round += 1) {
      // A killed backup: whatever it left is never listed, and the last good backup stays the latest.
      await repo.setGeneration(1000 + round);
      const backupDelay = randomDelay();
      const backupCode = await killAfter(backupArgs(repo, 'app'), repo.work, backupDelay);
      moments.push(`backup killed after ${backupDelay}ms (exit ${backupCode})`);
      const context = `round ${round}: ${moments.at(-1)}`;
      const afterBackup = await expectEveryListedBackupVerifies(repo, context);
      const newest = afterBackup.backups.at(-1);
      if (newest?.id !== newestGood?.id) {
        // It committed before the kill landed: then it verified above and holds this round's data.
        expect(await restoredGeneration(repo, `app@${newest?.id}`), context).toBe(String(1000 + round));
        newestGood = { id: newest?.id as string, generation: 1000 + round };
      }

      await goodBackup(round);
      // A killed prune: it removes manifests before objects, so at worst it leaves leftovers.
      const pruneDelay = randomDelay();
      const pruneCode = await killAfter(
        ['prune', '--from', repo.repo, '--keep-last', '1', '--grace', '0'],
        repo.work,
        pruneDelay,
      );
      moments.push(`prune killed after ${pruneDelay}ms (exit ${pruneCode})`);
      const afterPrune = await expectEveryListedBackupVerifies(repo, `round ${round}: ${moments.at(-1)}`);
      expect(afterPrune.backups.at(-1)?.id, moments.join('; ')).toBe(newestGood?.id);
    }
    // A prune that is not killed cleans up every leftover and dead lease, and keeps the newest good backup.
    const prune = await runCli(['prune', '--from', repo.repo, '--keep-last', '1', '--grace', '0']);
    expect(prune.code, prune.stderr).toBe(0);
    const final = await expectEveryListedBackupVerifies(repo, 'final');
    expect(final.incomplete).toEqual([]);
    expect(final.backups.map((backup) => backup.id)).toEqual([newestGood?.id]);
    const left = await readdir(join(repo.repo, 'app'));
    // A backup killed between creating its folder and its first file leaves an empty folder: no object
    // any listing shows (local destination housekeeping does not remove empty folders).
    for (const name of left.filter((entry) => entry !== '.leases' && entry !== newestGood?.id)) {
      expect(await readdir(join(repo.repo, 'app', name)), name).toEqual([]);
    }
    expect(left).toContain(newestGood?.id);
    // A writer killed while writing its lease leaves only a temp file, which housekeeping spares for
    // the 10-minute stale window (it has no owner to ask); never a lease object.
    const leases = left.includes('.leases') ? await readdir(join(repo.repo, 'app', '.leases')) : [];
    for (const name of leases) expect(name).toMatch(/^\..+\.json\.tmp-[0-9a-f]{12}$/);
    expect(await restoredGeneration(repo, 'app@latest')).toBe(String(newestGood?.generation));
  });
});
