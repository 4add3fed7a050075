import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, rename, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { createTestContext } from '@nexus-backup/testkit';
import { describe, expect, it } from 'vitest';
import {
  NO_JOURNAL_GRACE_MS,
  settleLeftovers,
  settleLeftoversBeforeRestore,
} from '../src/leftover-staging.js';
import type { StagingJournal } from '../src/staging-journal.js';
import { newJournal, writeJournal } from '../src/staging-journal.js';
import { snapshotTree, tempDirsPerTest, writeTree } from './tree-fixtures.js';

const dirs = tempDirsPerTest();

const OLD = { 'a.conf': { file: 'old a' }, 'keep.txt': { file: 'kept' } };
const NEW = { 'a.conf': { file: 'new a' }, 'keep.txt': { file: 'kept' }, 'b.conf': { file: 'new b' } };

/** The pid of a process that has exited, as a killed restore's would be. */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
  return Number(child.stdout.toString());
}

interface Scene {
  target: string;
  staging: string;
  oldSnapshot: Awaited<ReturnType<typeof snapshotTree>>;
  newSnapshot: Awaited<ReturnType<typeof snapshotTree>>;
}

/** A target holding OLD and a complete staged tree holding NEW, as a restore has them just before its switch. */
async function scene(): Promise<Scene> {
  const [root] = await dirs('switch');
  const target = join(root as string, 'service');
  const staging = join(root as string, '.service.nexus-restore-AbC123');
  await writeTree(target, OLD);
  await writeTree(join(staging, 'tree'), NEW);
  const [oldRef, newRef] = await dirs('old-ref', 'new-ref');
  await writeTree(oldRef as string, OLD);
  await writeTree(newRef as string, NEW);
  return {
    target,
    staging,
    oldSnapshot: await contents(oldRef as string),
    newSnapshot: await contents(newRef as string),
  };
}

/** Names, kinds and bytes (times differ between the scene and its references). */
async function contents(root: string) {
  const snapshot = await snapshotTree(root);
  return Object.fromEntries(
    Object.entries(snapshot).map(([path, entry]) => [path, { kind: entry.kind, sha256: entry.sha256 }]),
  );
}

async function journalOf(scene: Scene, changes: Partial<StagingJournal>): Promise<void> {
  await writeJournal(scene.staging, { ...newJournal(scene.target), pid: deadPid(), ...changes });
}

const settle = (target: string) =>
  settleLeftovers(target, { provider: 'files', log: createTestContext().log });

describe('the next restore settles a killed restore from its journal', () => {
  it('killed while staging: the staging folder goes, the target is exactly the old content', async () => {
    const s = await scene();
    await journalOf(s, { phase: 'staging' });
    const report = await settle(s.target);
    expect(report.lines[0]).toMatch(/removed the staging folder .* of a killed restore/);
    expect(await contents(s.target)).toEqual(s.oldSnapshot);
    expect(await readdir(dirname(s.target))).toEqual(['service']);
  });

  it('killed after journaling the switch, before the first rename: rolled back to the old content', async () => {
    const s = await scene();
    await journalOf(s, { phase: 'switching', hadTarget: true });
    expect((await settle(s.target)).lines[0]).toMatch(/^rolled back the switch/);
    expect(await contents(s.target)).toEqual(s.oldSnapshot);
    expect(await readdir(dirname(s.target))).toEqual(['service']);
  });

  it('killed between the two renames (target moved aside): finished, the target is exactly the new content', async () => {
    const s = await scene();
    await journalOf(s, { phase: 'switching', hadTarget: true });
    await rename(s.target, join(s.staging, 'old'));
    expect((await settle(s.target)).lines[0]).toMatch(/^finished the switch/);
    expect(await contents(s.target)).toEqual(s.newSnapshot);
    expect(await readdir(dirname(s.target))).toEqual(['service']);
  });

  it('killed after both renames, while removing the old content: the old content goes', async () => {
    const s = await scene();
    await journalOf(s, { phase: 'switched', hadTarget: true });
    await rename(s.target, join(s.staging, 'old'));
    await rename(join(s.staging, 'tree'), s.target);
    expect((await settle(s.target)).lines[0]).toMatch(/^finished the switch/);
    expect(await contents(s.target)).toEqual(s.newSnapshot);
    expect(await readdir(dirname(s.target))).toEqual(['service']);
  });

  it('a first restore killed before its one rename leaves no target behind', async () => {
    const s = await scene();
    const { rm } = await import('node:fs/promises');
    await rm(s.target, { recursive: true });
    await journalOf(s, { phase: 'switching', hadTarget: false });
    await settle(s.target);
    expect(await readdir(dirname(s.target))).toEqual([]);
  });

  it('refuses, changing nothing, when the target was recreated during a switch', async () => {
    const s = await scene();
    await journalOf(s, { phase: 'switching', hadTarget: true });
    await rename(s.target, join(s.staging, 'old'));
    await writeTree(s.target, { 'other.txt': { file: 'someone else' } });
    const error = await settle(s.target).catch((e: unknown) => e as Error);
    expect(error.message).toMatch(/half-way through its switch.*created again/);
    expect(await contents(join(s.staging, 'old'))).toEqual(s.oldSnapshot);
    expect(await contents(join(s.staging, 'tree'))).toEqual(s.newSnapshot);
  });
});

describe('a killed restore that moved files one by one (target is a mount point)', () => {
  it('never deletes the originals it parked, and names where they are', async () => {
    const [target] = await dirs('in-place');
    const staging = join(target as string, '.nexus-restore-Pq7Rs6');
    await mkdir(join(staging, 'replaced'), { recursive: true });
    await writeFile(join(staging, 'replaced', '0'), 'an original');
    await writeJournal(staging, {
      ...newJournal(target as string),
      pid: deadPid(),
      phase: 'switching',
      hadTarget: true,
      inPlace: true,
    });
    const error = await settle(target as string).catch((e: unknown) => e as Error);
    expect(error.message).toMatch(/killed while moving files one by one.*1 file\(s\) it replaced are in/);
    expect(await readdir(join(staging, 'replaced'))).toEqual(['0']);

    await writeJournal(staging, {
      ...newJournal(target as string),
      pid: deadPid(),
      phase: 'switched',
      hadTarget: true,
      inPlace: true,
    });
    await settle(target as string);
    expect(await readdir(target as string)).toEqual([]);
  });
});

describe('leftover staging folders', () => {
  it("leaves a live run's staging folder alone, and a restore into the same target refuses to start", async () => {
    const s = await scene();
    await writeJournal(s.staging, newJournal(s.target));
    const report = await settle(s.target);
    expect(report.live).toEqual([s.staging]);
    const error = await settleLeftoversBeforeRestore(s.target, {
      provider: 'files',
      log: createTestContext().log,
    }).catch((e: unknown) => e as Error);
    expect(error.message).toMatch(/another restore into .* is running/);
    expect(await contents(join(s.staging, 'tree'))).toEqual(s.newSnapshot);
  });

  it("treats another host's staging folder as dead only after a day", async () => {
    const s = await scene();
    const dayAgo = new Date(Date.now() - 25 * 60 * 60 * 1000).toISOString();
    await writeJournal(s.staging, { ...newJournal(s.target), host: `not-${hostname()}`, pid: 1 });
    expect((await settle(s.target)).live).toEqual([s.staging]);
    await writeJournal(s.staging, { ...newJournal(s.target), host: `not-${hostname()}`, startedAt: dayAgo });
    expect((await settle(s.target)).live).toEqual([]);
    expect(await readdir(dirname(s.target))).toEqual(['service']);
  });

  it('removes a staging folder without a journal once older than the grace period, not before', async () => {
    const s = await scene();
    expect((await settle(s.target)).live).toEqual([s.staging]);
    const old = new Date(Date.now() - NO_JOURNAL_GRACE_MS - 60_000);
    await utimes(s.staging, old, old);
    expect((await settle(s.target)).lines[0]).toMatch(/no journal/);
    expect(await readdir(dirname(s.target))).toEqual(['service']);
  });

  it('removes at once a folder without a journal whose name gives a pid gone from this host (killed before its journal)', async () => {
    const [root] = await dirs('owner-tag');
    const target = join(root as string, 'service');
    await writeTree(target, OLD);
    const thisHost = createHash('sha256').update(hostname()).digest('hex').slice(0, 8);
    const named = (pid: number, host: string) =>
      join(root as string, `.service.nexus-restore-${pid}.${host}-AbC123`);
    const killed = named(deadPid(), thisHost);
    const running = named(process.pid, thisHost);
    const elsewhere = named(deadPid(), thisHost === '00000000' ? '11111111' : '00000000');
    for (const folder of [killed, running, elsewhere]) await mkdir(folder);
    const report = await settle(target);
    expect(report.lines).toEqual([expect.stringMatching(/no journal, its run, pid \d+, is gone/)]);
    expect(report.live.sort()).toEqual([elsewhere, running].sort());
    expect((await readdir(root as string)).sort()).toEqual(
      [basename(elsewhere), basename(running), 'service'].sort(),
    );
  });

  it('never removes files an older version parked in replaced/, and says where they are', async () => {
    const s = await scene();
    await mkdir(join(s.staging, 'replaced'));
    await writeFile(join(s.staging, 'replaced', '0'), 'an original');
    const old = new Date(Date.now() - NO_JOURNAL_GRACE_MS - 60_000);
    await utimes(s.staging, old, old);
    const error = await settle(s.target).catch((e: unknown) => e as Error);
    expect(error.message).toMatch(/holds 1 file\(s\) an older version .* did not put back/);
    expect(await readdir(join(s.staging, 'replaced'))).toEqual(['0']);
  });

  it('ignores folders that only look like ours: another target in the journal, or a different name', async () => {
    const s = await scene();
    await journalOf(s, { phase: 'staging', target: join(dirname(s.target), 'elsewhere') });
    const lookalike = join(dirname(s.target), `.${basename(s.target)}.nexus-restore-toolong1`);
    await mkdir(lookalike);
    const report = await settle(s.target);
    expect(report).toEqual({ lines: [], live: [] });
    expect((await readdir(dirname(s.target))).sort()).toEqual(
      [basename(lookalike), basename(s.staging), 'service'].sort(),
    );
  });
});
