import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import type { Destination, StoredObject } from '@nexus-backup/core';
import { local } from '@nexus-backup/local';
import { collectStream, createTestContext, expectNexusError, failingStream } from '@nexus-backup/testkit';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const ctx = createTestContext();
let work: string;
let repo: string;
let destination: Destination;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'nexus-local-'));
  repo = join(work, 'repo');
  destination = await local.create({ path: repo });
});

afterEach(async () => {
  await chmod(work, 0o700).catch(() => {});
  await rm(work, { recursive: true, force: true });
});

async function listAll(prefix = ''): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of destination.list(prefix, ctx)) objects.push(object);
  return objects;
}

const put = (key: string, text: string) => destination.put(key, Readable.from([Buffer.from(text)]), ctx);

describe('local repository URLs', () => {
  it('takes file:///absolute URLs and the file URLs the CLI makes from plain paths', () => {
    expect(local.fromUrl(new URL('file:///var/backups/nexus'))).toEqual({ path: '/var/backups/nexus' });
    const relative = 'backups dir/with space';
    expect(local.fromUrl(pathToFileURL(resolve(relative)))).toEqual({ path: resolve(relative) });
  });

  it('refuses other schemes, query options and remote hosts as usage errors', () => {
    for (const url of ['s3://bucket/prefix', 'file:///var/backups?fsync=false', 'file://fileserver/share']) {
      expect(() => local.fromUrl(new URL(url)), url).toThrow(expect.objectContaining({ code: 'USAGE' }));
    }
  });
});

describe('local destination', () => {
  it('creates files 0600 and the directories it makes 0700', async () => {
    await put('pipeline/20261126T051822Z-3f9a1c/database.sql.gz', 'dump');
    expect((await stat(join(repo, 'pipeline/20261126T051822Z-3f9a1c/database.sql.gz'))).mode & 0o777).toBe(
      0o600,
    );
    for (const dir of ['', 'pipeline', 'pipeline/20261126T051822Z-3f9a1c']) {
      expect((await stat(join(repo, dir))).mode & 0o777, `mode of repo/${dir}`).toBe(0o700);
    }
  });

  it('removes its temp file when the body fails', async () => {
    await expect(destination.put('p/b/file.bin', failingStream(300_000), ctx)).rejects.toThrow();
    expect(await readdir(join(repo, 'p/b'))).toEqual([]);
  });

  it('removes its temp file when the put is aborted', async () => {
    const controller = new AbortController();
    const body = new Readable({ read() {} });
    body.push(Buffer.alloc(100_000));
    const putting = destination.put('p/b/file.bin', body, createTestContext({ signal: controller.signal }));
    // Wait until the temp file exists, i.e. the write is under way.
    while ((await readdir(join(repo, 'p/b')).catch(() => [])).length === 0) await new Promise(setImmediate);
    controller.abort();
    await expect(putting).rejects.toMatchObject({ code: 'ABORTED' });
    expect(await readdir(join(repo, 'p/b'))).toEqual([]);
  });

  it('lists temp files of a crashed run under their own names, and cleanup removes only the stale ones', async () => {
    await put('p/b1/manifest.json', '{}');
    const stale = 'p/b1/.database.sql.gz.tmp-0123456789ab';
    const fresh = 'p/b2/.database.sql.gz.tmp-ba9876543210';
    await mkdir(join(repo, 'p/b2'), { recursive: true });
    await writeFile(join(repo, stale), 'half a dump');
    await writeFile(join(repo, fresh), 'being written right now');
    const dayAgo = new Date(Date.now() - 24 * 3600_000);
    await utimes(join(repo, stale), dayAgo, dayAgo);

    expect((await listAll()).map((object) => object.key)).toEqual([
      'p/b1/.database.sql.gz.tmp-0123456789ab',
      'p/b1/manifest.json',
      fresh,
    ]);
    await expectNexusError(destination.get('p/b1/database.sql.gz', ctx), 'NOT_FOUND');

    const cutoff = new Date(Date.now() - 3600_000);
    expect(await destination.cleanup?.(cutoff, ctx, true)).toEqual([stale]);
    expect((await listAll()).map((object) => object.key)).toContain(stale);
    expect(await destination.cleanup?.(cutoff, ctx, false)).toEqual([stale]);
    expect((await listAll()).map((object) => object.key)).toEqual(['p/b1/manifest.json', fresh]);

    // prune deletes leftovers by the keys list gave it, temp names included
    await destination.delete([fresh], ctx);
    expect((await listAll()).map((object) => object.key)).toEqual(['p/b1/manifest.json']);
  });

  it('refuses keys that would leave the repository or collide with temp names', async () => {
    for (const key of [
      '../outside.bin',
      'a/../../outside.bin',
      '/etc/passwd',
      'a//b',
      'a/.b.tmp-0123456789ab',
    ]) {
      await expectNexusError(put(key, 'x'), 'USAGE');
    }
    expect(await readdir(work)).toEqual([]);
  });

  it('removes directories emptied by delete but keeps the repository directory', async () => {
    await put('p/b1/a.bin', 'a');
    await put('p/b2/a.bin', 'a');
    await destination.delete(['p/b1/a.bin'], ctx);
    expect(await readdir(join(repo, 'p'))).toEqual(['b2']);
    await destination.delete(['p/b2/a.bin'], ctx);
    expect(await readdir(repo)).toEqual([]);
  });

  it('treats a directory as a missing object', async () => {
    await put('p/b1/a.bin', 'a');
    await expectNexusError(destination.get('p/b1', ctx), 'NOT_FOUND');
  });

  it('lists nothing, rather than failing, for a repository directory that does not exist yet', async () => {
    expect(await listAll()).toEqual([]);
  });

  it('reads back what it wrote', async () => {
    await put('p/b1/a.bin', 'hello');
    expect((await collectStream(await destination.get('p/b1/a.bin', ctx))).toString()).toBe('hello');
  });

  it('reports a file standing where the repository directory should be as IO, naming the path and the fix', async () => {
    await writeFile(join(work, 'not-a-dir'), '');
    const blocked = await local.create({ path: join(work, 'not-a-dir', 'repo') });
    const error = await blocked
      .put('p/b/a.bin', Readable.from([Buffer.from('x')]), ctx)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'NexusError', code: 'IO', provider: 'local' });
    expect((error as Error).message).toContain(join(work, 'not-a-dir', 'repo'));
    expect((error as { hint: string }).hint).toMatch(/a file stands where a directory is needed/);
  });

  it('fails with IO, instead of hanging, where no directory can be made (under /proc)', async () => {
    const impossible = await local.create({ path: '/proc/nexus-backup-test-repo' });
    const error = await impossible
      .put('p/b/a.bin', Readable.from([Buffer.from('x')]), ctx)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'NexusError', code: 'IO', provider: 'local' });
    expect((error as Error).message).toContain('/proc/nexus-backup-test-repo');
  });

  it('reports an unwritable repository directory as IO, naming the path and what to fix', async () => {
    await mkdir(repo, { mode: 0o700 });
    await chmod(repo, 0o500);
    // Root writes anywhere, so as root the attempt runs without capabilities (util-linux setpriv).
    const script = `
      import { Readable } from 'node:stream';
      import { local } from ${JSON.stringify(pathToFileURL(resolve(import.meta.dirname, '../dist/index.js')).href)};
      const destination = await local.create({ path: ${JSON.stringify(repo)} });
      const signal = new AbortController().signal;
      const ctx = { signal, log: console, secrets: {} };
      try {
        await destination.put('p/b/a.bin', Readable.from([Buffer.from('x')]), ctx);
        console.log(JSON.stringify({ wrote: true }));
      } catch (error) {
        console.log(JSON.stringify({ name: error.name, code: error.code, message: error.message, hint: error.hint }));
      }`;
    const node = [process.execPath, '--input-type=module', '-e', script];
    const [command, ...args] =
      process.getuid?.() === 0 ? ['setpriv', '--bounding-set=-all', '--inh-caps=-all', ...node] : node;
    const { stdout } = await promisify(execFile)(command!, args);
    const result = JSON.parse(stdout) as { code: string; message: string; hint: string };
    expect(result).toMatchObject({ name: 'NexusError', code: 'IO' });
    expect(result.message).toContain(join(repo, 'p'));
    expect(result.hint).toMatch(/write access to .*repo/);
  });
});
