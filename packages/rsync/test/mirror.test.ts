import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { type Destination, mirrorRepository } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { recordingPuts, snapshot, writeBackup } from './mirror-fixtures.js';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

const A = 'database/20261124T020000Z-aaaaaa';
const B = 'database/20261125T020000Z-bbbbbb';
const C = 'credentials/20261125T030000Z-cccccc';

let server: SshdHandle;
const ctx = createTestContext();
let sourceDir: string;
let source: Destination;
let target: Destination;

beforeAll(async () => {
  server = await startSshd();
});
afterAll(async () => {
  await server?.stop();
});
// The "local" repository is a folder on this machine; it is reached through the same SFTP server
// only because this package may not depend on the local provider. rsync mode reads the folder itself.
beforeEach(async () => {
  sourceDir = freshPath(server, 'local');
  source = await destinationFor(repositoryUrl(server, sourceDir));
  target = await destinationFor(repositoryUrl(server, freshPath(server, 'remote')));
});
afterEach(async () => {
  await source.close?.();
  await target.close?.();
});

for (const via of ['sftp', 'rsync'] as const) {
  describe(`mirror via ${via}`, () => {
    const mirror = (options: { delete?: boolean; dryRun?: boolean } = {}) =>
      mirrorRepository({ source, target, ctx, via, sourceDir, ...options });

    it('copies new backups byte-exact, finds them unchanged, then copies one that changed', async () => {
      await writeBackup(source, ctx, A);
      await writeBackup(source, ctx, C);
      const first = await mirror();
      expect(first.copied.map((copy) => copy.backup).sort()).toEqual([A, C].sort());
      expect(first.copied.every((copy) => copy.files === 3)).toBe(true);
      expect(await snapshot(target, ctx)).toEqual(await snapshot(source, ctx));

      const second = await mirror();
      expect(second.copied).toEqual([]);
      expect(second.unchanged.sort()).toEqual([A, C].sort());

      await writeBackup(source, ctx, A, { 'database.sql.gz': randomBytes(200 * 1024) });
      const third = await mirror();
      expect(third.copied.map((copy) => copy.backup)).toEqual([A]);
      expect(third.unchanged).toEqual([C]);
      expect(await snapshot(target, ctx)).toEqual(await snapshot(source, ctx));
    });

    it('keeps remote backups deleted locally unless told to delete, then removes only those', async () => {
      await writeBackup(source, ctx, A);
      await writeBackup(source, ctx, B);
      await mirror();
      await source.delete([`${A}/manifest.json`, `${A}/database.sql.gz`, `${A}/credentials.tar.aes`], ctx);

      expect((await mirror()).deleted).toEqual([]);
      expect(Object.keys(await snapshot(target, ctx))).toContain(`${A}/manifest.json`);

      const report = await mirror({ delete: true });
      expect(report.deleted).toEqual([A]);
      expect(await snapshot(target, ctx)).toEqual(await snapshot(source, ctx));
    });

    it('changes nothing on a dry run but reports what it would copy and delete', async () => {
      await writeBackup(source, ctx, A);
      await mirror();
      await writeBackup(source, ctx, B);
      await source.delete([`${A}/manifest.json`, `${A}/database.sql.gz`, `${A}/credentials.tar.aes`], ctx);
      const before = await snapshot(target, ctx);

      const report = await mirror({ delete: true, dryRun: true });
      expect(report.dryRun).toBe(true);
      expect(report.copied.map((copy) => copy.backup)).toEqual([B]);
      expect(report.deleted).toEqual([A]);
      expect(report.lines.join('\n')).toContain(`would copy ${B}`);
      expect(await snapshot(target, ctx)).toEqual(before);
    });

    it('refuses to delete anything when the local repository lists no backups', async () => {
      await writeBackup(source, ctx, A);
      await mirror();
      await source.delete([`${A}/manifest.json`, `${A}/database.sql.gz`, `${A}/credentials.tar.aes`], ctx);
      // an unfinished backup (no manifest) does not count as a backup
      await source.put(`${B}/database.sql.gz`, Readable.from([Buffer.from('partial')]), ctx);
      const before = await snapshot(target, ctx);

      await expect(mirror({ delete: true })).rejects.toMatchObject({
        name: 'NexusError',
        code: 'POLICY',
        message: expect.stringContaining('lists no complete backups'),
      });
      expect(await snapshot(target, ctx)).toEqual(before);
    });
  });
}

describe('mirror via sftp', () => {
  it('writes each backup manifest after all of its artifacts', async () => {
    await writeBackup(source, ctx, A);
    await writeBackup(source, ctx, C);
    const recorded = recordingPuts(target);
    await mirrorRepository({ source, target: recorded.destination, ctx });
    for (const backup of [A, C]) {
      const mine = recorded.puts.filter((key) => key.startsWith(`${backup}/`));
      expect(mine).toHaveLength(3);
      expect(mine.at(-1)).toBe(`${backup}/manifest.json`);
    }
  });

  it('refuses to copy an artifact that does not match its manifest, and leaves that backup invisible remotely', async () => {
    await writeBackup(source, ctx, A);
    await writeBackup(source, ctx, B);
    // bit rot on the local disk: same size, different bytes
    await writeFile(join(sourceDir, A, 'database.sql.gz'), randomBytes(96 * 1024));
    const report = await mirrorRepository({ source, target, ctx });
    expect(report.failed.map((failure) => failure.backup)).toEqual([A]);
    expect(report.failed[0]?.error.code).toBe('INTEGRITY');
    expect(report.copied.map((copy) => copy.backup)).toEqual([B]);
    const remote = Object.keys(await snapshot(target, ctx));
    expect(remote.filter((key) => key.startsWith(`${A}/`))).not.toContain(`${A}/manifest.json`);
    expect(remote).not.toContain(`${A}/database.sql.gz`);
  });

  it('resumes an interrupted mirror: artifacts already there and matching are verified, not sent again', async () => {
    await writeBackup(source, ctx, A);
    await mirrorRepository({ source, target, ctx });
    await target.delete([`${A}/manifest.json`], ctx); // as if the run died before the manifest
    const recorded = recordingPuts(target);
    const report = await mirrorRepository({ source, target: recorded.destination, ctx });
    expect(report.copied).toEqual([expect.objectContaining({ backup: A, files: 1 })]);
    expect(recorded.puts).toEqual([`${A}/manifest.json`]);
    expect(await snapshot(target, ctx)).toEqual(await snapshot(source, ctx));
  });

  it('skips a local backup folder without a manifest and reports it', async () => {
    await source.put(`${B}/database.sql.gz`, Readable.from([Buffer.from('running')]), ctx);
    const report = await mirrorRepository({ source, target, ctx });
    expect(report.skipped).toEqual([{ backup: B, reason: expect.stringContaining('no manifest') }]);
    expect(await snapshot(target, ctx)).toEqual({});
  });
});

describe('mirror via rsync', () => {
  it('refuses a changed host key like the SFTP path does', async () => {
    await writeBackup(source, ctx, A);
    const knownHosts = join(server.root, 'known_hosts_wrong');
    const line = (await readFile(server.knownHostsFile, 'utf8')).trim().split(' ');
    // same host and key type, another key: the client key's public half
    const clientPublic = (await readFile(`${server.identityFile}.pub`, 'utf8')).trim().split(' ');
    await writeFile(knownHosts, `${line[0]} ${clientPublic[0]} ${clientPublic[1]}\n`);
    const wrongTarget = await destinationFor(
      repositoryUrl(server, freshPath(server, 'remote'), { knownHosts }),
    );
    try {
      await expect(
        mirrorRepository({ source, target: wrongTarget, ctx, via: 'rsync', sourceDir }),
      ).rejects.toMatchObject({
        code: 'CONNECTION',
        hint: expect.stringContaining('host key'),
      });
    } finally {
      await wrongTarget.close?.();
    }
  });

  it('works with a pinned fingerprint instead of a known_hosts file', async () => {
    await writeBackup(source, ctx, A);
    const pinned = await destinationFor(
      repositoryUrl(server, freshPath(server, 'remote'), {
        knownHosts: join(server.root, 'missing-known-hosts'),
        fingerprint: server.hostKeyFingerprint,
      }),
    );
    try {
      const report = await mirrorRepository({ source, target: pinned, ctx, via: 'rsync', sourceDir });
      expect(report.copied.map((copy) => copy.backup)).toEqual([A]);
      expect(await snapshot(pinned, ctx)).toEqual(await snapshot(source, ctx));
    } finally {
      await pinned.close?.();
    }
  });
});
