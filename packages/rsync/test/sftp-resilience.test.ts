import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Destination, StoredObject } from '@nexus-backup/core';
import { createTestContext, hashStream, MiB, pausingStream, randomStream } from '@nexus-backup/testkit';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

let server: SshdHandle;
const ctx = createTestContext();

beforeAll(async () => {
  server = await startSshd();
});
afterAll(async () => {
  await server?.stop();
});

async function listAll(destination: Destination, prefix = ''): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of destination.list(prefix, ctx)) objects.push(object);
  return objects;
}

describe('a dropped SSH session', () => {
  it('fails the upload, leaves nothing under the final name, and the next put reconnects', async () => {
    const path = freshPath(server, 'killed');
    const destination = await destinationFor(repositoryUrl(server, path));
    const body = pausingStream(8 * MiB, 3 * MiB);
    const putting = destination
      .put('pipeline/20261126T051822Z-3f9a1c/database.sql.gz', body.stream, ctx)
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    await body.paused;
    expect(await server.killSessions()).toBeGreaterThan(0);
    body.resume();
    const error = await putting;
    expect(error).toMatchObject({ name: 'NexusError', code: 'CONNECTION' });
    expect(body.stream.destroyed).toBe(true);

    // the remote folder holds only the temp file of the broken upload, invisible to list
    const onDisk = await readdir(join(path, 'pipeline/20261126T051822Z-3f9a1c'));
    expect(onDisk).toHaveLength(1);
    expect(onDisk[0]).toMatch(/^\.database\.sql\.gz\.nexus-tmp-[0-9a-f]{12}$/);
    expect(await listAll(destination)).toEqual([]);
    await expect(
      destination.get('pipeline/20261126T051822Z-3f9a1c/database.sql.gz', ctx),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
    });

    const again = randomStream(2 * MiB);
    expect(
      await destination.put('pipeline/20261126T051822Z-3f9a1c/database.sql.gz', again.stream, ctx),
    ).toEqual({
      bytes: 2 * MiB,
    });
    expect(
      await hashStream(await destination.get('pipeline/20261126T051822Z-3f9a1c/database.sql.gz', ctx)),
    ).toEqual({
      bytes: 2 * MiB,
      sha256: again.sha256(),
    });
    await destination.close?.();
  });

  it('fails a download in progress instead of ending it early', async () => {
    const destination = await destinationFor(repositoryUrl(server, freshPath(server, 'killed-get')));
    await destination.put('big.bin', randomStream(16 * MiB).stream, ctx);
    const reading = await destination.get('big.bin', ctx);
    let received = 0;
    const consumed = (async () => {
      for await (const chunk of reading) {
        received += (chunk as Buffer).length;
        if (received >= MiB && received - (chunk as Buffer).length < MiB) await server.killSessions();
      }
    })();
    await expect(consumed).rejects.toMatchObject({ code: 'CONNECTION' });
    expect(received).toBeLessThan(16 * MiB);
    await destination.close?.();
  });
});

describe('a server that stops answering', () => {
  it('fails the pending upload after idleTimeout instead of hanging, and the next put reconnects', async () => {
    const destination = await destinationFor(
      repositoryUrl(server, freshPath(server, 'stalled'), { idleTimeout: '2' }),
    );
    const body = pausingStream(4 * MiB, MiB);
    const putting = destination.put('stalled.bin', body.stream, ctx).then(
      () => undefined,
      (error: unknown) => error,
    );
    await body.paused;
    expect(await server.signalSessions('SIGSTOP')).toBeGreaterThan(0);
    try {
      body.resume();
      const error = await putting;
      expect(error).toMatchObject({
        code: 'CONNECTION',
        message: expect.stringContaining('no SFTP response for 2 s'),
      });
    } finally {
      await server.killSessions();
      await server.signalSessions('SIGCONT');
    }
    expect(await destination.put('after.bin', Readable.from([Buffer.from('ok')]), ctx)).toEqual({ bytes: 2 });
    await destination.close?.();
  });
});

describe('cleanup of stale temp files', () => {
  it('lists leftovers of broken uploads on a dry run and removes them otherwise', async () => {
    const destination = await destinationFor(repositoryUrl(server, freshPath(server, 'cleanup')));
    await destination.put('kept/file.bin', Readable.from([Buffer.from('kept')]), ctx);
    const body = pausingStream(4 * MiB, MiB);
    const putting = destination.put('broken/file.bin', body.stream, ctx).catch(() => undefined);
    await body.paused;
    await server.killSessions();
    body.resume();
    await putting;

    const later = new Date(Date.now() + 60_000);
    expect(await destination.cleanup?.(new Date(Date.now() - 3600_000), ctx, false)).toEqual([]);
    const found = await destination.cleanup?.(later, ctx, true);
    expect(found).toHaveLength(1);
    expect(found?.[0]).toMatch(/^broken\/\.file\.bin\.nexus-tmp-[0-9a-f]{12}$/);
    expect(await destination.cleanup?.(later, ctx, false)).toEqual(found);
    expect(await destination.cleanup?.(later, ctx, true)).toEqual([]);
    expect((await listAll(destination)).map((object) => object.key)).toEqual(['kept/file.bin']);
    await destination.close?.();
  });
});

describe('delete', () => {
  it('removes the folders it empties, so a deleted backup leaves no empty folder behind', async () => {
    const path = freshPath(server, 'folders');
    const destination = await destinationFor(repositoryUrl(server, path));
    await destination.put('db/20261126T051822Z-3f9a1c/a.bin', Readable.from([Buffer.from('a')]), ctx);
    await destination.put(
      'db/20261126T051822Z-3f9a1c/manifest.json',
      Readable.from([Buffer.from('{}')]),
      ctx,
    );
    await destination.put('db/20261127T051822Z-3f9a1c/a.bin', Readable.from([Buffer.from('a')]), ctx);
    await destination.delete(
      ['db/20261126T051822Z-3f9a1c/a.bin', 'db/20261126T051822Z-3f9a1c/manifest.json'],
      ctx,
    );
    expect(await readdir(join(path, 'db'))).toEqual(['20261127T051822Z-3f9a1c']);
    // and a put into a folder that was just removed still works
    await destination.put('db/20261126T051822Z-3f9a1c/b.bin', Readable.from([Buffer.from('b')]), ctx);
    expect((await listAll(destination, 'db/20261126T051822Z-3f9a1c/')).map((object) => object.key)).toEqual([
      'db/20261126T051822Z-3f9a1c/b.bin',
    ]);
    await destination.close?.();
  });
});
