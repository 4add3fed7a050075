import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { copySampleService, runCli, tempDir } from './helpers/cli.js';
import { describeTree } from './helpers/tree.js';

const env = { NEXUS_BACKUP_PASSPHRASE: 'tamper test passphrase' };

/** Copies a repository, applies one change to the stored artifact, returns the copy. */
async function tampered(repo: string, change: (bytes: Buffer) => Buffer): Promise<string> {
  const copy = await tempDir('tampered');
  const { cp } = await import('node:fs/promises');
  await cp(repo, copy, { recursive: true });
  const [id] = await readdir(join(copy, 'credentials'));
  const folder = join(copy, 'credentials', id as string);
  const file = (await readdir(folder)).find((name) => name.endsWith('.aes')) as string;
  await writeFile(join(folder, file), change(await readFile(join(folder, file))));
  return copy;
}

describe('encrypted credentials: restore refuses damaged or foreign data and leaves the target untouched', () => {
  let repo: string;
  let size: number;

  beforeAll(async () => {
    const service = await copySampleService();
    repo = await tempDir('enc');
    // Small chunks so the artifact has several and the table can hit first, middle and final ones.
    const backup = await runCli(
      [
        'backup',
        'credentials',
        '--dir',
        'credentials',
        '--encrypt',
        '--encrypt-chunk-size',
        '1024',
        '--no-gzip',
        '--to',
        repo,
      ],
      { cwd: service, env },
    );
    expect(backup.code).toBe(0);
    const [id] = await readdir(join(repo, 'credentials'));
    const folder = join(repo, 'credentials', id as string);
    size = (await readFile(join(folder, (await readdir(folder)).find((n) => n.endsWith('.aes')) as string)))
      .length;
  });

  const flip = (offset: (size: number) => number) => (bytes: Buffer) => {
    const copy = Buffer.from(bytes);
    const at = offset(copy.length);
    copy[at] = (copy[at] as number) ^ 0x40;
    return copy;
  };
  const cases: [string, (bytes: Buffer) => Buffer][] = [
    ['a header byte flipped', flip(() => 20)],
    ['a byte of the first chunk flipped', flip(() => 140)],
    ['a byte in the middle flipped', flip((n) => Math.floor(n / 2))],
    ['the last byte flipped', flip((n) => n - 1)],
    ['truncated by half', (bytes) => bytes.subarray(0, Math.floor(bytes.length / 2))],
    ['bytes appended', (bytes) => Buffer.concat([bytes, Buffer.from('extra')])],
  ];
  for (const [what, change] of cases) {
    it(`${what}: exit 2, the target keeps exactly what it had`, async () => {
      const copy = await tampered(repo, change);
      const target = await tempDir('target');
      await writeFile(join(target, 'existing.json'), '{"keep":true}');
      const before = await describeTree(target);
      const restore = await runCli(['restore', 'credentials@latest', '--from', copy, '--to-dir', target], {
        env,
      });
      expect(restore.code).toBe(2);
      expect(restore.stderr).toMatch(/does not match its manifest|corrupt|truncat|tamper|authentic/i);
      expect(await describeTree(target)).toEqual(before);
      expect(size).toBeGreaterThan(3 * 1024);
    });
  }

  it('a wrong passphrase: exit 2 saying so, nothing written', async () => {
    const target = join(await tempDir('target'), 'new');
    const restore = await runCli(['restore', 'credentials@latest', '--from', repo, '--to-dir', target], {
      env: { NEXUS_BACKUP_PASSPHRASE: 'not the passphrase' },
    });
    expect(restore.code).toBe(2);
    expect(restore.stderr).toContain('wrong passphrase');
    expect(restore.stderr).not.toContain('not the passphrase');
    await expect(readdir(target)).rejects.toThrow(/ENOENT/);
  });

  it('no passphrase and no terminal: a usage error naming where the passphrase comes from', async () => {
    const restore = await runCli([
      'restore',
      'credentials@latest',
      '--from',
      repo,
      '--to-dir',
      join(repo, 'x'),
    ]);
    expect(restore.code).toBe(64);
    expect(restore.stderr).toContain('NEXUS_BACKUP_PASSPHRASE');
  });
});
