import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import {
  type BucketLifecycleConfiguration,
  CreateMultipartUploadCommand,
  GetBucketLifecycleConfigurationCommand,
  PutBucketLifecycleConfigurationCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type { Destination, StoredObject } from '@nexus-backup/core';
import { createTestContext, MiB, randomStream } from '@nexus-backup/testkit';
import {
  type S3FaultProxy,
  type S3ProxyRequest,
  type S3Server,
  type S3ServerKind,
  startS3FaultProxy,
  startS3Server,
} from '@nexus-backup/testkit/s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { destinationFor, repositoryUrl, useServerCredentials } from './s3-test-setup.js';

const isDeleteObjects = (r: S3ProxyRequest) => r.method === 'POST' && r.query.has('delete');
const isSingleDelete = (r: S3ProxyRequest) => r.method === 'DELETE' && !r.query.has('uploadId');

async function listAll(destination: Destination, prefix: string): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of destination.list(prefix, createTestContext())) objects.push(object);
  return objects;
}

async function putMany(destination: Destination, keys: string[]): Promise<void> {
  const queue = [...keys];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        await destination.put(key, Readable.from([Buffer.from(key)]), createTestContext());
      }
    }),
  );
}

// s3rver: fauxqs's file storage takes tens of seconds for a thousand small objects on a busy machine.
describe('s3 delete in batches (s3rver behind a proxy)', () => {
  let server: S3Server;
  let proxy: S3FaultProxy;
  let destination: Destination;
  beforeAll(async () => {
    server = await startS3Server({ kind: 's3rver' });
    proxy = await startS3FaultProxy(server.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
  });
  afterEach(async () => {
    await destination?.close?.();
    await seed?.close?.();
    proxy.clearFaults();
  });

  /** The destination under test goes through the proxy; `seed` writes straight to the server, faster. */
  let seed: Destination;
  async function open() {
    useServerCredentials(server);
    const prefix = `prune-${randomBytes(4).toString('hex')}`;
    destination = await destinationFor(repositoryUrl(server, prefix, { endpoint: proxy.endpoint }));
    seed = await destinationFor(repositoryUrl(server, prefix));
  }

  it('lists 1,001 objects across pages and deletes them in two DeleteObjects batches', async () => {
    await open();
    const keys = Array.from(
      { length: 1001 },
      (_, index) => `pipeline/backup-${String(index).padStart(4, '0')}.bin`,
    );
    await putMany(seed, keys);
    proxy.requests.length = 0;
    const listed = await listAll(destination, 'pipeline/');
    expect(listed.map((object) => object.key).sort()).toEqual(keys);
    expect(proxy.requests.filter((r) => r.method === 'GET' && r.query.get('list-type') === '2')).toHaveLength(
      2,
    );

    proxy.requests.length = 0;
    await destination.delete(
      listed.map((object) => object.key),
      createTestContext(),
    );
    expect(proxy.requests.filter(isDeleteObjects)).toHaveLength(2);
    expect(await listAll(destination, '')).toEqual([]);
  });

  it('falls back to single deletes when the store answers DeleteObjects with 501 NotImplemented', async () => {
    await open();
    const keys = ['a.bin', 'b.bin', 'c/d.bin'];
    await putMany(seed, keys);
    // The proxy plays a store without DeleteObjects; the single deletes reach the real server.
    proxy.addFault({ match: isDeleteObjects, fault: { status: 501, code: 'NotImplemented' } });
    proxy.requests.length = 0;
    await destination.delete([...keys, 'never-existed.bin'], createTestContext());
    expect(proxy.requests.filter(isDeleteObjects)).toHaveLength(1);
    // One single delete per key; the SDK may retry one on a loaded machine, so keys are counted, not requests.
    const singles = proxy.requests
      .filter(isSingleDelete)
      .map((request) => request.path.split('/').slice(-1)[0]);
    expect(new Set(singles)).toEqual(new Set(['a.bin', 'b.bin', 'd.bin', 'never-existed.bin']));
    expect(await listAll(destination, '')).toEqual([]);
  });
});

for (const kind of ['s3rver', 'fauxqs'] as S3ServerKind[]) {
  describe(`s3 cleanup of incomplete multipart uploads on ${kind}`, () => {
    let server: S3Server;
    beforeAll(async () => {
      server = await startS3Server({ kind });
    });
    afterAll(async () => {
      await server?.stop();
    });

    it('warns that this store cannot list multipart uploads and points at the lifecycle rule', async () => {
      useServerCredentials(server);
      // A stale upload a crashed run left behind.
      const client = new S3Client({ endpoint: server.endpoint, region: server.region, forcePathStyle: true });
      await client.send(
        new CreateMultipartUploadCommand({ Bucket: server.bucket, Key: 'repo/crashed/db.sql.gz' }),
      );
      client.destroy();
      expect(await server.openMultipartUploads()).toHaveLength(1);

      const destination = await destinationFor(repositoryUrl(server, 'repo'));
      const lines: string[] = [];
      const found = await destination.cleanup?.(
        new Date(Date.now() + 60_000),
        createTestContext({ lines }),
        false,
      );
      await destination.close?.();
      // Neither server implements ListMultipartUploads (s3rver: 501; fauxqs answers with a ListObjects
      // result); claiming "nothing stale" would be wrong, so the operator is told instead.
      expect(found).toEqual([]);
      expect(lines).toEqual([
        expect.stringMatching(/^warn .*cannot list multipart uploads.*AbortIncompleteMultipartUpload/),
      ]);
    });
  });
}

describe('s3 README lifecycle rule', () => {
  let server: S3Server;
  beforeAll(async () => {
    server = await startS3Server({ kind: 'fauxqs' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('is a lifecycle configuration the S3 API accepts and returns unchanged', async () => {
    const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
    const block = /```json\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(block).toBeDefined();
    const configuration = JSON.parse(block ?? '') as BucketLifecycleConfiguration;
    const client = new S3Client({
      endpoint: server.endpoint,
      region: server.region,
      forcePathStyle: true,
      credentials: server.credentials,
    });
    try {
      await client.send(
        new PutBucketLifecycleConfigurationCommand({
          Bucket: server.bucket,
          LifecycleConfiguration: configuration,
        }),
      );
      const stored = await client.send(new GetBucketLifecycleConfigurationCommand({ Bucket: server.bucket }));
      expect(stored.Rules?.[0]).toMatchObject({
        Status: 'Enabled',
        AbortIncompleteMultipartUpload: { DaysAfterInitiation: 2 },
      });
    } finally {
      client.destroy();
    }
  });
});

describe('s3 get body and cancellation (fauxqs)', () => {
  let server: S3Server;
  beforeAll(async () => {
    server = await startS3Server({ kind: 'fauxqs' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('destroys a GetObject body the caller is still reading when the run is cancelled', async () => {
    useServerCredentials(server);
    const destination = await destinationFor(repositoryUrl(server, 'get-abort'));
    await destination.put('big.bin', randomStream(6 * MiB).stream, createTestContext());
    const controller = new AbortController();
    const body = await destination.get('big.bin', createTestContext({ signal: controller.signal }));
    const first = await new Promise<Buffer>((resolve) => body.once('data', resolve));
    expect(first.length).toBeGreaterThan(0);
    body.pause();
    const closed = new Promise((resolve) => body.once('close', resolve));
    controller.abort();
    await closed;
    expect(body.destroyed).toBe(true);
    await destination.close?.();
  });
});
