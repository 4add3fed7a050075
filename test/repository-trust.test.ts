import { mkdir, mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Manifest } from '@nexus-backup/core';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

// Issue 12 (2, 3, 5): a backup is listed, counted, kept and restored only after looking at its objects.

const cleanup: string[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

interface Fixture {
  repo: string;
  work: string;
  /** Oldest first; each backup's `data.txt` says `generation N`. */
  ids: string[];
  folder(id: string): string;
}

/** Three real backups of a small folder whose content names its generation. */
async function threeBackups(options: { encrypt?: boolean } = {}): Promise<Fixture> {
  const work = await mkdtemp(join(tmpdir(), 'nexus-trust-'));
  cleanup.push(work);
  const repo = join(work, 'repo');
  const data = join(work, 'data');
  await mkdir(data);
  for (let generation = 1; generation <= 3; generation += 1) {
    await writeFile(join(data, 'data.txt'), `generation ${generation}\n`.repeat(200));
    const made = await runCli(
      [
        'backup',
        'files',
        'data',
        '--to',
        repo,
        '--pipeline',
        'app',
        ...(options.encrypt ? ['--encrypt'] : []),
      ],
      { cwd: work, env: { NEXUS_BACKUP_PASSPHRASE: 'correct horse battery' } },
    );
    expect(made.code, made.stderr).toBe(0);
  }
  const ids = (
    JSON.parse((await runCli(['list', 'app', '--from', repo, '--json'])).stdout).backups as {
      id: string;
    }[]
  ).map((backup) => backup.id);
  expect(ids).toHaveLength(3);
  return { repo, work, ids, folder: (id) => join(repo, 'app', id) };
}

async function artifactOf(folder: string): Promise<string> {
  return join(folder, (await readdir(folder)).find((name) => name !== 'manifest.json') as string);
}

async function editManifest(folder: string, edit: (manifest: Manifest) => void): Promise<void> {
  const path = join(folder, 'manifest.json');
  const manifest = JSON.parse(await readFile(path, 'utf8')) as Manifest;
  edit(manifest);
  await writeFile(path, JSON.stringify(manifest, null, 2));
}

async function restoredGeneration(fixture: Fixture, selector: string) {
  const out = join(fixture.work, `out-${Math.random().toString(16).slice(2)}`);
  const restore = await runCli(['restore', selector, '--from', fixture.repo, '--to-dir', out]);
  const text =
    restore.code === 2 ? '' : await readFile(join(out, 'data', 'data.txt'), 'utf8').catch(() => '');
  return { ...restore, generation: /generation (\d)/.exec(text)?.[1] };
}

async function remainingIds(fixture: Fixture): Promise<string[]> {
  return (await readdir(join(fixture.repo, 'app'))).filter((name) => !name.startsWith('.')).sort();
}

describe('damaged newest backup: list, check, prune and restore look at the objects', () => {
  const damages: [string, (artifact: string) => Promise<void>, RegExp][] = [
    ['missing', (artifact) => rm(artifact), /is missing/],
    ['truncated', (artifact) => truncate(artifact, 10), /is 10 bytes, the manifest records \d+/],
  ];
  for (const [kind, damage, problem] of damages) {
    it(`a ${kind} artifact is shown damaged, fails check, is passed over by restore @latest with a warning, and prune --keep-last 1 keeps the newest intact backup`, async () => {
      const fixture = await threeBackups();
      const [, middle, newest] = fixture.ids as [string, string, string];
      await damage(await artifactOf(fixture.folder(newest)));

      const listText = await runCli(['list', '--from', fixture.repo]);
      expect(listText.code).toBe(1);
      expect(listText.stdout).toMatch(new RegExp(`${newest}.*DAMAGED`));
      expect(listText.stderr).toMatch(problem);
      const listJson = JSON.parse((await runCli(['list', '--from', fixture.repo, '--json'])).stdout);
      expect(listJson.backups.map((backup: { id: string }) => backup.id)).toEqual(fixture.ids.slice(0, 2));
      expect(listJson.damaged).toHaveLength(1);
      expect(listJson.damaged[0].id).toBe(newest);
      expect(listJson.damaged[0].problems[0]).toMatch(problem);

      const check = await runCli(['check', '--from', fixture.repo, '--max-age', '1h', '--json']);
      expect(check.code).toBe(2);
      const report = JSON.parse(check.stdout);
      expect(report.pipelines[0].newest.id).toBe(middle);
      expect(report.problems.map((p: { kind: string }) => p.kind)).toContain('damaged');

      const restore = await restoredGeneration(fixture, 'app@latest');
      expect(restore.code).toBe(1);
      expect(restore.stderr).toContain(`skipped the newer backup app@${newest}`);
      expect(restore.generation).toBe('2');

      const verify = await runCli(['verify', 'app', '--from', fixture.repo]);
      expect(verify.code).toBe(2);
      expect(verify.stderr).toMatch(problem);

      const prune = await runCli(['prune', 'app', '--from', fixture.repo, '--keep-last', '1', '--json']);
      expect(prune.code).toBe(1);
      const outcome = JSON.parse(prune.stdout);
      expect(outcome.damaged.map((d: { id: string }) => d.id)).toEqual([newest]);
      // The damaged backup is neither counted nor removed; the newest intact one stays.
      expect(await remainingIds(fixture)).toEqual([middle, newest].sort());
      expect((await restoredGeneration(fixture, 'app@latest')).generation).toBe('2');
    });
  }

  it('a bit-flipped newest artifact (same size) fails verify and restore; prune reads it and keeps the newest backup that verifies', async () => {
    const fixture = await threeBackups();
    const [, middle, newest] = fixture.ids as [string, string, string];
    const artifact = await artifactOf(fixture.folder(newest));
    const bytes = await readFile(artifact);
    bytes[Math.floor(bytes.length / 2)] ^= 0x10;
    await writeFile(artifact, bytes);

    // Listing cannot see a changed byte; reading can.
    expect((await runCli(['list', '--from', fixture.repo])).code).toBe(0);
    const verify = await runCli(['verify', `app@${newest}`, '--from', fixture.repo]);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toContain('does not match its manifest');
    expect((await restoredGeneration(fixture, 'app@latest')).code).toBe(2);

    const prune = await runCli(['prune', 'app', '--from', fixture.repo, '--keep-last', '1', '--json']);
    expect(prune.code).toBe(1);
    const outcome = JSON.parse(prune.stdout);
    const decision = (id: string) => outcome.decisions.find((d: { id: string }) => d.id === id);
    expect(decision(newest)).toMatchObject({ action: 'keep' });
    expect(decision(newest).reasons[0]).toContain('fails verification');
    expect(decision(middle)).toMatchObject({ action: 'keep' });
    expect(decision(middle).reasons).toContain('newest verified backup');
    expect(await remainingIds(fixture)).toEqual([middle, newest].sort());
    expect((await restoredGeneration(fixture, `app@${middle}`)).generation).toBe('2');
  });

  it('a manifest dated in the future is flagged and ordered by its objects: check and prune --keep-last 1 keep the real newest', async () => {
    const fixture = await threeBackups();
    const [oldest, , newest] = fixture.ids as [string, string, string];
    await editManifest(fixture.folder(oldest), (manifest) => {
      manifest.startedAt = '2099-01-01T00:00:00.000Z';
      manifest.finishedAt = '2099-01-01T00:01:00.000Z';
    });

    const list = await runCli(['list', '--from', fixture.repo, '--json']);
    const listed = JSON.parse(list.stdout).backups as { id: string; timeWarning?: string }[];
    expect(listed.map((backup) => backup.id)).toEqual(fixture.ids);
    expect(listed[0]?.timeWarning).toMatch(/in the future/);

    const check = await runCli(['check', '--from', fixture.repo, '--max-age', '1h', '--json']);
    expect(check.code).toBe(0);
    expect(JSON.parse(check.stdout).pipelines[0].newest.id).toBe(newest);

    expect((await restoredGeneration(fixture, 'app@latest')).generation).toBe('3');
    const prune = await runCli(['prune', 'app', '--from', fixture.repo, '--keep-last', '1']);
    expect(prune.code).toBe(0);
    expect(await remainingIds(fixture)).toEqual([newest]);
  });

  it('an unknown transform provider fails verify and is not what prune relies on', async () => {
    const fixture = await threeBackups();
    const [, middle, newest] = fixture.ids as [string, string, string];
    await editManifest(fixture.folder(newest), (manifest) => {
      (manifest.transforms[0] as Manifest['transforms'][number]).provider = 'lz4';
    });
    const verify = await runCli(['verify', 'app', '--from', fixture.repo, '--json']);
    expect(verify.code).toBe(2);
    const failed = JSON.parse(verify.stdout).backups.filter((check: { ok: boolean }) => !check.ok);
    expect(failed).toHaveLength(1);
    expect(failed[0].id).toBe(newest);
    expect(failed[0].problems.join(' ')).toContain('unknown transform "lz4"');
    expect((await restoredGeneration(fixture, 'app@latest')).code).not.toBe(0);

    const prune = await runCli(['prune', 'app', '--from', fixture.repo, '--keep-last', '1']);
    expect(prune.code).toBe(1);
    expect(prune.stderr).toContain('lz4');
    expect(await remainingIds(fixture)).toEqual([middle, newest].sort());
  });

  it('an edited raw hash fails verify (decoded without a passphrase) and restore; prune keeps the newest backup that decodes', async () => {
    const fixture = await threeBackups();
    const [, middle, newest] = fixture.ids as [string, string, string];
    await editManifest(fixture.folder(newest), (manifest) => {
      const { raw } = manifest.artifacts[0] as Manifest['artifacts'][number];
      raw.sha256 = `${raw.sha256[0] === 'a' ? 'b' : 'a'}${raw.sha256.slice(1)}`;
    });
    const verify = await runCli(['verify', `app@${newest}`, '--from', fixture.repo]);
    expect(verify.code).toBe(2);
    expect(verify.stderr).toMatch(/decoded .* does not match its manifest/);
    expect((await restoredGeneration(fixture, 'app@latest')).code).toBe(2);

    expect((await runCli(['prune', 'app', '--from', fixture.repo, '--keep-last', '1'])).code).toBe(1);
    expect(await remainingIds(fixture)).toEqual([middle, newest].sort());
  });

  it('verify --read decrypts an encrypted backup to find an edited raw hash that plain verify cannot see', async () => {
    const fixture = await threeBackups({ encrypt: true });
    const newest = fixture.ids[2] as string;
    await editManifest(fixture.folder(newest), (manifest) => {
      const { raw } = manifest.artifacts[0] as Manifest['artifacts'][number];
      raw.sha256 = `${raw.sha256[0] === 'a' ? 'b' : 'a'}${raw.sha256.slice(1)}`;
    });
    const plain = await runCli(['verify', `app@${newest}`, '--from', fixture.repo]);
    expect(plain.code).toBe(0);
    expect(plain.stderr).toContain('raw hashes not checked (add --read to decrypt)');
    const read = await runCli(['verify', `app@${newest}`, '--from', fixture.repo, '--read'], {
      env: { NEXUS_BACKUP_PASSPHRASE: 'correct horse battery' },
    });
    expect(read.code).toBe(2);
    expect(read.stderr).toMatch(/decoded .* does not match its manifest/);
    const intact = await runCli(['verify', `app@${fixture.ids[1]}`, '--from', fixture.repo, '--read'], {
      env: { NEXUS_BACKUP_PASSPHRASE: 'correct horse battery' },
    });
    expect(intact.code).toBe(0);
    expect(intact.stderr).toContain('(stored and raw)');
  });

  it('restore @latest names an unreadable newest manifest it passed over and exits 1; @ID of a damaged backup fails', async () => {
    const fixture = await threeBackups();
    const [oldest, middle, newest] = fixture.ids as [string, string, string];
    await writeFile(join(fixture.folder(newest), 'manifest.json'), '{ not json');
    const restore = await restoredGeneration(fixture, 'app@latest');
    expect(restore.code).toBe(1);
    expect(restore.stderr).toMatch(
      new RegExp(
        `skipped the newer backup app@${newest}: unreadable: manifest .* is not valid JSON; restoring app@${middle} instead`,
      ),
    );
    expect(restore.generation).toBe('2');

    await rm(await artifactOf(fixture.folder(middle)));
    const explicit = await restoredGeneration(fixture, `app@${middle}`);
    expect(explicit.code).toBe(2);
    expect(explicit.stderr).toContain(`backup app@${middle} in ${fixture.repo} is damaged`);
    const latest = await restoredGeneration(fixture, 'app@latest');
    expect(latest.code).toBe(1);
    expect(latest.generation).toBe('1');
    expect(latest.stderr).toContain(`restoring app@${oldest} instead`);
  });

  it('a manifest with a negative size or a malformed hash is unreadable, never listed as a backup', async () => {
    const fixture = await threeBackups();
    const [oldest, middle] = fixture.ids as [string, string, string];
    await editManifest(fixture.folder(oldest), (manifest) => {
      (manifest.artifacts[0] as Manifest['artifacts'][number]).stored.bytes = -1;
    });
    await editManifest(fixture.folder(middle), (manifest) => {
      (manifest.artifacts[0] as Manifest['artifacts'][number]).raw.sha256 = 'abc';
    });
    const list = await runCli(['list', '--from', fixture.repo, '--json']);
    expect(list.code).toBe(1);
    const listed = JSON.parse(list.stdout);
    expect(listed.backups.map((backup: { id: string }) => backup.id)).toEqual([fixture.ids[2]]);
    // Unreadable manifests have no time to order by; two backups in one second may sort either way by id.
    expect(listed.unreadable.map((backup: { id: string }) => backup.id).sort()).toEqual(
      [oldest, middle].sort(),
    );
    expect((await runCli(['verify', 'app', '--from', fixture.repo])).code).toBe(2);
  });
});
