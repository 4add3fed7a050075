import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { Destination } from '@nexus-backup/core';
import { createTestContext, hashStream, MiB, pausingStream, randomStream } from '@nexus-backup/testkit';
import { type S3FaultProxy, type S3Server, startS3FaultProxy, startS3Server } from '@nexus-backup/testkit/s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { uploadStream } from '../src/stream-upload.js';
import { destinationFor, repositoryUrl, useServerCredentials } from './s3-test-setup.js';

const isPartUpload = (r: { method: string; query: URLSearchParams }) =>
  r.method === 'PUT' && r.query.has('partNumber');
const isCreateUpload = (r: { method: string; query: URLSearchParams }) =>
  r.method === 'POST' && r.query.has('uploads');

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(10);
}

for (const kind of ['s3rver', 'fauxqs'] as const) {
  describe(`s3 multipart upload on ${kind}`, () => {
    let server: S3Server;
    let proxy: S3FaultProxy;
    let destination: Destination;
    let client: S3Client;
    let prefix: string;
    const ctx = createTestContext();

    beforeAll(async () => {
      server = await startS3Server({ kind });
      proxy = await startS3FaultProxy(server.endpoint);
      useServerCredentials(server);
      client = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true });
    });
    afterAll(async () => {
      client?.destroy();
      await proxy?.stop();
      await server?.stop();
    });
    afterEach(async () => {
      await destination?.close?.();
      proxy.requests.length = 0;
    });

    async function open(query: Record<string, string | number> = {}) {
      prefix = `repo-${randomBytes(4).toString('hex')}`;
      useServerCredentials(server);
      destination = await destinationFor(
        repositoryUrl(server, prefix, { endpoint: proxy.endpoint, ...query }),
      );
      return destination;
    }

    it('stores an empty stream with one PutObject and never starts a multipart upload', async () => {
      await open();
      expect(await destination.put('empty.bin', Readable.from([]), ctx)).toEqual({ bytes: 0 });
      expect(proxy.requests.filter(isCreateUpload)).toEqual([]);
      expect(proxy.requests.filter((r) => r.method === 'PUT').map((r) => r.bytes)).toEqual([0]);
      expect(await hashStream(await destination.get('empty.bin', ctx))).toMatchObject({ bytes: 0 });
    });

    it('uploads 12 MiB in three 5 MiB parts and reads it back byte-exact', async () => {
      await open();
      const body = randomStream(12 * MiB + 17);
      expect(await destination.put('three-parts.bin', body.stream, ctx)).toEqual({ bytes: 12 * MiB + 17 });
      expect(proxy.requests.filter(isCreateUpload)).toHaveLength(1);
      expect(proxy.requests.filter(isPartUpload).map((r) => r.bytes)).toEqual([
        5 * MiB,
        5 * MiB,
        2 * MiB + 17,
      ]);
      if (kind === 'fauxqs') {
        // fauxqs computes S3's multipart ETag (s3rver does not): an object completed from three parts.
        const head = await client.send(
          new HeadObjectCommand({ Bucket: server.bucket, Key: `${prefix}/three-parts.bin` }),
        );
        expect(head.ETag).toMatch(/-3"$/);
      }
      expect(await hashStream(await destination.get('three-parts.bin', ctx))).toEqual({
        bytes: 12 * MiB + 17,
        sha256: body.sha256(),
      });
    });

    it('completes an upload whose parts grow as the stream grows', async () => {
      // Doubling every 2 parts instead of every 1,000, so growth shows on a 36 MiB stream.
      const body = randomStream(36 * MiB);
      const key = `growing-${randomBytes(4).toString('hex')}.bin`;
      const proxied = new S3Client({ endpoint: proxy.endpoint, region: server.region, forcePathStyle: true });
      try {
        await uploadStream({
          client: proxied,
          params: { Bucket: server.bucket, Key: key },
          body: body.stream,
          plan: { startBytes: 5 * MiB, grow: true, queueSize: 2, partsPerStep: 2 },
          checksums: true,
          ctx,
        });
      } finally {
        proxied.destroy();
      }
      expect(proxy.requests.filter(isPartUpload).map((r) => r.bytes)).toEqual(
        [5, 5, 10, 10, 6].map((n) => n * MiB),
      );
      const got = await destinationFor(repositoryUrl(server, ''));
      expect(await hashStream(await got.get(key, ctx))).toEqual({ bytes: 36 * MiB, sha256: body.sha256() });
      await got.close?.();
    });

    it('rejects when the body fails after parts went up, and the key never appears', async () => {
      await open();
      const lines: string[] = [];
      const logged = createTestContext({ lines });
      const body = pausingStream(20 * MiB, 11 * MiB);
      const putting = destination.put('failed.bin', body.stream, logged).catch((error: unknown) => error);
      await body.paused;
      await until(() => proxy.requests.some(isPartUpload));
      body.stream.destroy(new Error('the source died'));
      expect(await putting).toMatchObject({
        name: 'NexusError',
        message: expect.stringContaining('the source died'),
      });
      await expect(destination.get('failed.bin', ctx)).rejects.toMatchObject({ code: 'NOT_FOUND' });
      if (kind === 'fauxqs') {
        // fauxqs has AbortMultipartUpload: nothing is left open on the server.
        expect(await server.openMultipartUploads()).toEqual([]);
        expect(lines.filter((line) => line.startsWith('warn'))).toEqual([]);
      } else {
        // s3rver lacks AbortMultipartUpload: the upload stays open and the operator is told how it goes away.
        expect(proxy.requests.some((r) => r.method === 'DELETE' && r.query.has('uploadId'))).toBe(true);
        expect(
          lines.some((line) => line.startsWith('warn') && line.includes('AbortIncompleteMultipartUpload')),
        ).toBe(true);
      }
    });
  });
}

describe('s3 multipart abort on fauxqs', () => {
  let server: S3Server;
  beforeAll(async () => {
    server = await startS3Server({ kind: 'fauxqs' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('aborts the multipart upload when ctx.signal aborts mid-stream', async () => {
    useServerCredentials(server);
    const destination = await destinationFor(repositoryUrl(server, 'aborted'));
    const controller = new AbortController();
    let sent = 0;
    const body = new Readable({
      read() {
        sent += MiB;
        if (sent === 12 * MiB) controller.abort();
        this.push(randomBytes(MiB));
      },
    });
    const error = await destination
      .put('big.bin', body, createTestContext({ signal: controller.signal }))
      .catch((e) => e);
    expect(error).toMatchObject({ code: 'ABORTED' });
    expect(body.destroyed).toBe(true);
    expect(await server.openMultipartUploads()).toEqual([]);
    await destination.close?.();
  });
});
