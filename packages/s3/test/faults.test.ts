import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Destination } from '@nexus-backup/core';
import { createTestContext, hashStream, MiB, randomStream } from '@nexus-backup/testkit';
import {
  type S3FaultProxy,
  type S3ProxyRequest,
  type S3Server,
  startS3FaultProxy,
  startS3Server,
} from '@nexus-backup/testkit/s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { destinationFor, repositoryUrl, useServerCredentials } from './s3-test-setup.js';

const isPartUpload = (r: S3ProxyRequest) => r.method === 'PUT' && r.query.has('partNumber');
const isCreateUpload = (r: S3ProxyRequest) => r.method === 'POST' && r.query.has('uploads');
const isComplete = (r: S3ProxyRequest) => r.method === 'POST' && r.query.has('uploadId');
const isPutObject = (r: S3ProxyRequest) =>
  r.method === 'PUT' && !r.query.has('partNumber') && r.path.split('/').length > 2;

// fauxqs, because it can abort multipart uploads: "nothing left open" is checkable there.
describe('s3 under injected faults (fauxqs behind a fault proxy)', () => {
  let server: S3Server;
  let proxy: S3FaultProxy;
  let destination: Destination;
  const ctx = createTestContext();

  beforeAll(async () => {
    server = await startS3Server({ kind: 'fauxqs' });
    proxy = await startS3FaultProxy(server.endpoint);
  });
  afterAll(async () => {
    await proxy?.stop();
    await server?.stop();
  });
  afterEach(async () => {
    await destination?.close?.();
    proxy.clearFaults();
    proxy.requests.length = 0;
    proxy.injected.length = 0;
  });

  async function open(query: Record<string, string | number> = {}) {
    useServerCredentials(server);
    const prefix = `faults-${randomBytes(4).toString('hex')}`;
    destination = await destinationFor(repositoryUrl(server, prefix, { endpoint: proxy.endpoint, ...query }));
  }

  it('retries 500, 503 SlowDown and dropped connections, and the upload completes byte-exact', async () => {
    await open();
    proxy.addFault({ match: isCreateUpload, fault: { status: 503, code: 'SlowDown' }, times: 1 });
    proxy.addFault({
      match: (r) => isPartUpload(r) && r.query.get('partNumber') === '1',
      fault: 'reset',
      times: 1,
    });
    proxy.addFault({
      match: (r) => isPartUpload(r) && r.query.get('partNumber') === '2',
      fault: { status: 500, code: 'InternalError' },
      times: 2,
    });
    proxy.addFault({ match: isComplete, fault: { status: 503, code: 'ServiceUnavailable' }, times: 1 });
    const body = randomStream(11 * MiB);
    expect(await destination.put('flaky.bin', body.stream, ctx)).toEqual({ bytes: 11 * MiB });
    expect(proxy.injected).toHaveLength(5);
    expect(await hashStream(await destination.get('flaky.bin', ctx))).toEqual({
      bytes: 11 * MiB,
      sha256: body.sha256(),
    });
    expect(await server.openMultipartUploads()).toEqual([]);
  });

  it('retries a throttled single PutObject and a dropped GetObject', async () => {
    await open();
    proxy.addFault({ match: isPutObject, fault: { status: 503, code: 'SlowDown' }, times: 2 });
    await destination.put('small.bin', Readable.from([Buffer.from('small')]), ctx);
    proxy.addFault({
      match: (r) => r.method === 'GET' && r.path.endsWith('small.bin'),
      fault: 'reset',
      times: 1,
    });
    expect((await hashStream(await destination.get('small.bin', ctx))).bytes).toBe(5);
    expect(proxy.injected).toHaveLength(3);
  });

  it('fails on a persistent 503 after maxAttempts, leaving no object and no open multipart upload', async () => {
    await open({ maxAttempts: 3 });
    proxy.addFault({
      match: (r) => isPartUpload(r) && r.query.get('partNumber') === '2',
      fault: { status: 503, code: 'ServiceUnavailable' },
    });
    const error = await destination
      .put('doomed.bin', randomStream(12 * MiB).stream, ctx)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'NexusError',
      code: 'IO',
      message: expect.stringContaining('after 3 attempts'),
    });
    expect(proxy.injected.length).toBe(3);
    expect(proxy.requests.some((r) => r.method === 'DELETE' && r.query.has('uploadId'))).toBe(true);
    expect(await server.openMultipartUploads()).toEqual([]);
    await expect(destination.get('doomed.bin', ctx)).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('fails on connections dropped every time, with nothing left open', async () => {
    await open({ maxAttempts: 2 });
    proxy.addFault({ match: isPartUpload, fault: 'reset' });
    const error = await destination
      .put('dropped.bin', randomStream(11 * MiB).stream, ctx)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'NexusError' });
    expect(await server.openMultipartUploads()).toEqual([]);
    expect((await listKeys(destination, '')).includes('dropped.bin')).toBe(false);
  });
});

async function listKeys(destination: Destination, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of destination.list(prefix, createTestContext())) keys.push(object.key);
  return keys;
}

describe('s3 errors that say what to fix (s3rver, which checks signatures)', () => {
  let server: S3Server;
  const ctx = createTestContext();

  beforeAll(async () => {
    server = await startS3Server({ kind: 's3rver' });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it('reports a missing bucket as NOT_FOUND naming the bucket, for put, list and get', async () => {
    useServerCredentials(server);
    const url = repositoryUrl(server, 'p');
    url.hostname = 'no-such-bucket';
    const destination = await destinationFor(url);
    const expected = {
      code: 'NOT_FOUND',
      message: expect.stringContaining('bucket "no-such-bucket" does not exist'),
    };
    await expect(destination.put('x.bin', Readable.from([Buffer.from('x')]), ctx)).rejects.toMatchObject(
      expected,
    );
    await expect(listKeys(destination, '')).rejects.toMatchObject(expected);
    await expect(destination.get('x.bin', ctx)).rejects.toMatchObject(expected);
    await destination.close?.();
  });

  it('reports an unreachable endpoint as CONNECTION naming the endpoint', async () => {
    useServerCredentials(server);
    const closed = await startS3FaultProxy(server.endpoint);
    const endpoint = closed.endpoint;
    await closed.stop(); // a port nothing listens on any more
    const destination = await destinationFor(repositoryUrl(server, 'p', { endpoint, maxAttempts: 2 }));
    const error = await destination
      .put('x.bin', Readable.from([Buffer.from('x')]), ctx)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({
      name: 'NexusError',
      code: 'CONNECTION',
      message: expect.stringContaining(endpoint),
    });
    expect((error as { hint: string }).hint).toContain('endpoint=');
    await destination.close?.();
  });

  it('reports refused credentials as CONNECTION with the credentials chain in the hint, never the secret', async () => {
    // s3rver checks the access key id (it does not verify V4 signatures), so the key id is the wrong one.
    process.env.AWS_ACCESS_KEY_ID = 'AKIAWRONGKEYID';
    process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret-value';
    const destination = await destinationFor(repositoryUrl(server, 'p'));
    try {
      const error = await destination
        .put('x.bin', Readable.from([Buffer.from('x')]), ctx)
        .catch((e: unknown) => e);
      expect(error).toMatchObject({
        name: 'NexusError',
        code: 'CONNECTION',
        message: expect.stringContaining('refused'),
      });
      const { message, hint } = error as { message: string; hint: string };
      expect(hint).toContain('AWS_PROFILE');
      expect(`${message} ${hint}`).not.toContain('wrong-secret-value');
    } finally {
      await destination.close?.();
      useServerCredentials(server);
    }
  });
});
