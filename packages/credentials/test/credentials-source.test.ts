import { link, lstat, readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { OptionValues } from '@nexus-backup/core';
import { defaultOptions, NexusError } from '@nexus-backup/core';
import { credentials } from '@nexus-backup/credentials';
import { createTestContext } from '@nexus-backup/testkit';
import { list } from 'tar';
import { describe, expect, it } from 'vitest';
import {
  failingAtEnd,
  restoreArtifacts,
  runBackup,
  snapshotTree,
  tempDirsPerTest,
  writeTree,
} from './tree-fixtures.js';

const dirs = tempDirsPerTest();

const SECRET = 'sk_live_do_not_leak_0123456789';

async function credentialFolder(dir: string) {
  await writeTree(dir, {
    'gcp.credentials.json': {
      file: JSON.stringify({ type: 'service_account', private_key: SECRET }),
      mode: 0o644,
    },
    'stripe.json': { file: '{"key":"sk_test"}\n', mode: 0o664 },
    'notes.txt': { file: 'not a credential' },
    'old/legacy.json': { file: '{"legacy":true}' },
  });
}

function restoreTo(toDir: string, force = false): OptionValues {
  return { toDir, force };
}

/** Entry names inside a tar held in memory. */
async function tarNames(bytes: Buffer): Promise<string[]> {
  const names: string[] = [];
  const parser = list({ onReadEntry: (entry) => names.push(entry.path) });
  parser.end(bytes);
  await new Promise((resolve) => parser.on('close', resolve));
  return names;
}

describe('credentials source', () => {
  it('requires an encrypting transform unless allowPlaintext is set', () => {
    const defaults = defaultOptions(credentials.options);
    expect(credentials.requiresEncryption?.(defaults)).toBe(true);
    expect(credentials.requiresEncryption?.({ ...defaults, allowPlaintext: true })).toBe(false);
  });

  it('backs up the files matching the pattern as credentials.tar, and describes names without contents', async () => {
    const [dir] = await dirs('cred-src');
    await credentialFolder(dir!);
    const lines: string[] = [];
    const ctx = createTestContext({ lines });
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });

    const description = await source.describe(ctx);
    expect(description).toMatchObject({ files: 2, names: ['gcp.credentials.json', 'stripe.json'] });
    expect(description.bytes).toBe(
      Buffer.byteLength(JSON.stringify({ type: 'service_account', private_key: SECRET })) + 18,
    );
    expect(JSON.stringify(description)).not.toContain(SECRET);

    const { artifacts } = await runBackup(source, ctx);
    expect(artifacts.map((a) => a.name)).toEqual(['credentials.tar']);
    expect(await tarNames(artifacts[0]!.bytes)).toEqual(['gcp.credentials.json', 'stripe.json']);
    expect(lines.join('\n')).not.toContain(SECRET);
  });

  it('warns naming the files and folders it skips because they are outside the pattern', async () => {
    const [dir] = await dirs('cred-skipped');
    await credentialFolder(dir!);
    const lines: string[] = [];
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });
    await runBackup(source, createTestContext({ lines }));
    const warnings = lines.filter((line) => line.startsWith('warn '));
    expect(warnings).toEqual([
      expect.stringMatching(/skipped 2 item\(s\) in .* outside the pattern \*\.json: notes\.txt, old\/;/),
    ]);

    const everything = await credentials.create({ dir: dir!, pattern: '**/*', allowPlaintext: false });
    const quiet: string[] = [];
    await runBackup(everything, createTestContext({ lines: quiet }));
    expect(quiet.filter((line) => line.startsWith('warn '))).toEqual([]);
  });

  it('includes subfolders with a ** pattern', async () => {
    const [dir] = await dirs('cred-deep');
    await credentialFolder(dir!);
    const source = await credentials.create({ dir: dir!, pattern: '**/*.json', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());
    expect(await tarNames(artifacts[0]!.bytes)).toEqual([
      'gcp.credentials.json',
      'old/legacy.json',
      'stripe.json',
    ]);
  });

  it('restores files 0600 inside a 0700 folder, byte for byte', async () => {
    const [dir, out] = await dirs('cred-rt', 'cred-rt-out');
    await credentialFolder(dir!);
    const source = await credentials.create({ dir: dir!, pattern: '**/*.json', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());
    const target = join(out!, 'restored', 'credentials');
    const report = await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(target));

    expect((await stat(target)).mode & 0o777).toBe(0o700);
    expect((await stat(join(target, 'old'))).mode & 0o777).toBe(0o700);
    for (const name of ['gcp.credentials.json', 'stripe.json', 'old/legacy.json']) {
      expect((await stat(join(target, name))).mode & 0o777).toBe(0o600);
      expect(await readFile(join(target, name))).toEqual(await readFile(join(dir!, name)));
    }
    expect(report.lines.join('\n')).toContain('restored 3 credential file(s)');
    expect(report.lines.join('\n')).not.toContain(SECRET);
  });

  it('stores hard-linked credential files as separate files, so restore (which refuses links) accepts them', async () => {
    const [dir, out] = await dirs('cred-hardlink', 'cred-hardlink-out');
    await writeTree(dir!, { 'a.json': { file: '{"a":1}' } });
    await link(join(dir!, 'a.json'), join(dir!, 'b.json'));
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    expect(await readFile(join(out!, 'b.json'), 'utf8')).toBe('{"a":1}');
    expect((await stat(join(out!, 'b.json'))).mode & 0o777).toBe(0o600);
  });

  it('tightens an existing, more open target folder to 0700', async () => {
    const [dir, out] = await dirs('cred-tighten', 'cred-tighten-out');
    await credentialFolder(dir!);
    await writeTree(out!, { 'other.txt': { file: 'x' }, '.': { dir: true, mode: 0o755 } });
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!));
    expect((await stat(out!)).mode & 0o777).toBe(0o700);
    expect(await readFile(join(out!, 'other.txt'), 'utf8')).toBe('x');
  });

  it('refuses a backup holding a .json file that does not parse, naming it and writing nothing', async () => {
    const [dir, out] = await dirs('cred-bad', 'cred-bad-out');
    await credentialFolder(dir!);
    const source = await credentials.create({ dir: dir!, pattern: '*', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());
    // Break one file after the backup read it, as an old or tampered archive would be.
    const broken = Buffer.from(artifacts[0]!.bytes);
    const at = broken.indexOf('{"key":"sk_test"}');
    broken.write('!', at + 16);

    const target = join(out!, 'target');
    const error = await source
      .restore(
        createTestContext(),
        restoreArtifacts([{ name: 'credentials.tar', bytes: broken }]),
        restoreTo(target),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NexusError);
    expect(error).toMatchObject({ code: 'INTEGRITY' });
    expect((error as Error).message).toContain('stripe.json');
    expect((error as Error).message).not.toContain('sk_tes');
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await snapshotTree(out!)).toEqual({});
  });

  it('refuses at backup time a .json credential that does not parse, without quoting it', async () => {
    const [dir] = await dirs('cred-bad-src');
    await writeTree(dir!, { 'broken.json': { file: `{"key": ${SECRET}` } });
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });
    const error = await runBackup(source, createTestContext()).catch((e: unknown) => e);
    expect((error as Error).message).toContain('broken.json');
    expect((error as Error).message).not.toContain(SECRET);
  });

  it('never overwrites an existing credential without force, listing the conflicts before writing anything', async () => {
    const [dir, out] = await dirs('cred-conflict', 'cred-conflict-out');
    await credentialFolder(dir!);
    await writeTree(out!, { 'stripe.json': { file: '{"key":"current"}', mode: 0o600 } });
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());
    const before = await snapshotTree(out!);

    const error = await source
      .restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TARGET' });
    expect((error as Error).message).toContain('stripe.json');
    expect(await snapshotTree(out!)).toEqual(before);

    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!, true));
    expect(await readFile(join(out!, 'stripe.json'), 'utf8')).toBe('{"key":"sk_test"}\n');
    expect(await readFile(join(out!, 'gcp.credentials.json'), 'utf8')).toContain('service_account');
  });

  it('leaves the target untouched when the artifact stream errors at its very end (hash mismatch)', async () => {
    const [dir, out] = await dirs('cred-hash', 'cred-hash-out');
    await credentialFolder(dir!);
    await writeTree(out!, { 'existing.json': { file: '{}' } });
    const before = await snapshotTree(out!);
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());

    const error = await source
      .restore(
        createTestContext(),
        restoreArtifacts(artifacts, (bytes) => failingAtEnd(bytes)),
        restoreTo(out!),
      )
      .catch((e: unknown) => e);
    expect((error as Error).message).toContain('does not match the manifest');
    expect(await snapshotTree(out!)).toEqual(before);
    const siblings = await readdir(dirname(out!));
    expect(siblings.filter((name) => name.startsWith(`.${basename(out!)}.nexus-restore-`))).toEqual([]);
  });

  it('leaves the target untouched when the artifact stream errors half-way', async () => {
    const [dir, out] = await dirs('cred-mid', 'cred-mid-out');
    await credentialFolder(dir!);
    const source = await credentials.create({ dir: dir!, pattern: '*.json', allowPlaintext: false });
    const { artifacts } = await runBackup(source, createTestContext());
    const bytes = artifacts[0]!.bytes;

    const target = join(out!, 'credentials');
    const error = await source
      .restore(
        createTestContext(),
        restoreArtifacts(artifacts, () => failingAtEnd(bytes, 1024)),
        restoreTo(target),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    await expect(lstat(target)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await snapshotTree(out!)).toEqual({});
  });

  it('fails with NOT_FOUND when the credentials folder does not exist', async () => {
    const [dir] = await dirs('cred-missing');
    const source = await credentials.create({
      dir: join(dir!, 'nope'),
      pattern: '*.json',
      allowPlaintext: false,
    });
    await expect(runBackup(source, createTestContext())).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });
});
