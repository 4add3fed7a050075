import { lstat, readdir, readFile, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { OptionValues } from '@nexus-backup/core';
import { defaultOptions } from '@nexus-backup/core';
import { credentials, files } from '@nexus-backup/credentials';
import { createTestContext } from '@nexus-backup/testkit';
import { Header } from 'tar';
import { describe, expect, it } from 'vitest';
import { restoreArtifacts, runBackup, snapshotTree, tempDirsPerTest, writeTree } from './tree-fixtures.js';

const dirs = tempDirsPerTest();

interface CraftedEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'FIFO';
  body?: string;
  linkpath?: string;
}

/** A tar written header by header, so it can hold what node-tar's packer would never produce. */
function craftTar(entries: CraftedEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const body = Buffer.from(entry.body ?? '');
    const header = new Header({
      path: entry.path,
      type: entry.type ?? 'File',
      size: body.length,
      mode: entry.type === 'Directory' ? 0o755 : 0o644,
      mtime: new Date('2024-01-01T00:00:00Z'),
      uid: 0,
      gid: 0,
      linkpath: entry.linkpath,
    });
    header.encode();
    blocks.push(header.block!);
    const padded = Buffer.alloc(Math.ceil(body.length / 512) * 512);
    body.copy(padded);
    blocks.push(padded);
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

function restoreTo(toDir: string, force = false): OptionValues {
  return { toDir, force };
}

/** Core creates a source for restore from its declared defaults only. */
async function restoreCrafted(
  entries: CraftedEntry[],
  target: string,
  source: typeof files | typeof credentials = files,
  force = false,
) {
  const restorer =
    source === files
      ? await files.create(defaultOptions(files.options))
      : await credentials.create(defaultOptions(credentials.options));
  const name = source === files ? 'files.tar' : 'credentials.tar';
  return restorer.restore(
    createTestContext(),
    restoreArtifacts([{ name, bytes: craftTar(entries) }]),
    restoreTo(target, force),
  );
}

const unsafeArchives: Array<[string, CraftedEntry[], string]> = [
  ['an absolute path', [{ path: '/tmp/nexus-evil-absolute.txt', body: 'x' }], 'absolute path'],
  ['a .. path', [{ path: '../nexus-evil-parent.txt', body: 'x' }], '".."'],
  ['a .. path in the middle', [{ path: 'a/../../nexus-evil-middle.txt', body: 'x' }], '".."'],
  [
    'a symlink to an absolute path',
    [{ path: 'etc', type: 'SymbolicLink', linkpath: '/etc' }],
    'absolute path',
  ],
  [
    'a symlink leading out of the target',
    [{ path: 'sub/up', type: 'SymbolicLink', linkpath: '../../nexus-evil-link' }],
    'outside the target',
  ],
  [
    'a hard link leading out of the target',
    [{ path: 'passwd', type: 'Link', linkpath: '../../../etc/passwd' }],
    'outside the target',
  ],
  ['a device node', [{ path: 'null', type: 'CharacterDevice' }], 'unsupported entry type'],
  ['a fifo', [{ path: 'pipe', type: 'FIFO' }], 'unsupported entry type'],
];

describe('restore refuses unsafe archives and leaves the target as it was', () => {
  for (const [label, entries, reason] of unsafeArchives) {
    it(`refuses ${label}`, async () => {
      const [parent] = await dirs('unsafe');
      const target = join(parent!, 'out', 'target');
      const error = await restoreCrafted([{ path: 'ok.txt', body: 'fine' }, ...entries], target).catch(
        (e: unknown) => e,
      );
      expect(error).toMatchObject({ code: 'INTEGRITY' });
      expect((error as Error).message).toContain(reason);
      // Nothing anywhere: not the target, not its created parent, no staging leftovers, nothing outside.
      expect(await readdir(parent!)).toEqual([]);
      await expect(lstat('/tmp/nexus-evil-absolute.txt')).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }

  it('refuses an archive that writes through a symlink it created', async () => {
    const [parent, elsewhere] = await dirs('through', 'through-elsewhere');
    const target = join(parent!, 'target');
    const error = await restoreCrafted(
      [
        { path: 'inner', type: 'Directory' },
        { path: 'hop', type: 'SymbolicLink', linkpath: 'inner' },
        { path: 'hop/file.txt', body: 'x' },
      ],
      target,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INTEGRITY' });
    expect(await readdir(parent!)).toEqual([]);
    expect(await readdir(elsewhere!)).toEqual([]);
  });

  it('refuses links of any kind in a credentials archive', async () => {
    const [parent] = await dirs('cred-link');
    const target = join(parent!, 'target');
    const error = await restoreCrafted(
      [
        { path: 'a.json', type: 'SymbolicLink', linkpath: 'b.json' },
        { path: 'b.json', body: '{}' },
      ],
      target,
      credentials,
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INTEGRITY' });
    expect((error as Error).message).toContain('links are not allowed');
    expect(await readdir(parent!)).toEqual([]);
  });

  it('refuses a truncated archive', async () => {
    const [parent] = await dirs('truncated');
    const whole = craftTar([{ path: 'big.txt', body: 'y'.repeat(5000) }]);
    const restorer = await files.create(defaultOptions(files.options));
    const error = await restorer
      .restore(
        createTestContext(),
        restoreArtifacts([{ name: 'files.tar', bytes: whole.subarray(0, 2048) }]),
        restoreTo(join(parent!, 'target')),
      )
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'INTEGRITY' });
    expect(await readdir(parent!)).toEqual([]);
  });

  it('never writes through a symlinked folder already in the target', async () => {
    const [base, out, outside] = await dirs('link-target', 'link-target-out', 'link-target-outside');
    await writeTree(base!, { 'docker/compose.yml': { file: 'services: {}\n' } });
    await symlink(outside!, join(out!, 'docker'));
    const source = await files.create({ paths: ['docker'], baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    const error = await source
      .restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!, true))
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'TARGET' });
    expect((error as Error).message).toContain('docker (exists and is not a folder)');
    expect(await readdir(outside!)).toEqual([]);
  });

  it('with force replaces a symlinked file in the target instead of writing through it', async () => {
    const [base, out, outside] = await dirs('link-file', 'link-file-out', 'link-file-outside');
    await writeTree(base!, { '.env': { file: 'FROM_BACKUP=1\n' } });
    await writeTree(outside!, { 'real.env': { file: 'OUTSIDE=1\n' } });
    await symlink(join(outside!, 'real.env'), join(out!, '.env'));
    const source = await files.create({ paths: ['.env'], baseDir: base!, followSymlinks: false });
    const { artifacts } = await runBackup(source, createTestContext());
    await source.restore(createTestContext(), restoreArtifacts(artifacts), restoreTo(out!, true));
    expect(await readFile(join(outside!, 'real.env'), 'utf8')).toBe('OUTSIDE=1\n');
    expect((await snapshotTree(out!))['.env']).toMatchObject({ kind: 'file' });
    expect(await readFile(join(out!, '.env'), 'utf8')).toBe('FROM_BACKUP=1\n');
  });
});
