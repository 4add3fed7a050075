import { createHash, randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Destination } from '@nexus-backup/core';
import { createTestContext, MiB, pausingStream, randomStream } from '@nexus-backup/testkit';
import { type S3Server, startS3Server } from '@nexus-backup/testkit/s3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { destinationFor, repositoryUrl, useServerCredentials } from './s3-test-setup.js';

/** A TCP relay to the store that can go silent: connections stay open, no byte moves either way. */
interface FreezingRelay {
  endpoint: string;
  freeze(): void;
  stop(): Promise<void>;
}

async function startFreezingRelay(target: string): Promise<FreezingRelay> {
  const { hostname, port } = new URL(target);
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    const relay = (from: Socket, to: Socket) => {
      sockets.add(from);
      from.on('data', (chunk) => {
        if (!frozen) to.write(chunk);
      });
      from.on('error', () => from.destroy());
      from.on('close', () => {
        sockets.delete(from);
        to.destroy();
      });
      if (frozen) from.pause();
    };
    relay(client, upstream);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    freeze() {
      frozen = true;
      for (const socket of sockets) socket.pause();
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('s3 when the store stops answering (s3rver behind a relay that goes silent)', () => {
  let server: S3Server;
  let relay: FreezingRelay;
  let destination: Destination;
  const ctx = createTestContext();

  beforeAll(async () => {
    server = await startS3Server({ kind: 's3rver' });
  });
  afterAll(async () => {
    await server?.stop();
  });
  afterEach(async () => {
    await destination?.close?.();
    await relay?.stop();
  });

  async function open(): Promise<string> {
    useServerCredentials(server);
    relay = await startFreezingRelay(server.endpoint);
    const prefix = `stall-${randomBytes(4).toString('hex')}`;
    const url = repositoryUrl(server, prefix, { endpoint: relay.endpoint, idleTimeout: 1, maxAttempts: 2 });
    destination = await destinationFor(url);
    return prefix;
  }

  it('an upload whose store goes silent mid-stream fails naming the store, and leaves no object', async () => {
    const prefix = await open();
    const source = pausingStream(64 * MiB, 12 * MiB);
    const upload = destination.put('a/object.bin', source.stream, ctx).catch((caught: unknown) => caught);
    await source.paused;
    relay.freeze();
    source.resume();
    const error = await upload;
    expect(error).toMatchObject({ code: 'CONNECTION', provider: 's3' });
    expect((error as Error).message).toMatch(
      /cannot reach http:\/\/127\.0\.0\.1:\d+ \(uploading s3:\/\/.*a\/object\.bin: TimeoutError/,
    );
    const direct = await destinationFor(repositoryUrl(server, prefix));
    const left = [];
    for await (const object of direct.list('a/', ctx)) left.push(object.key);
    await direct.close?.();
    expect(left).toEqual([]);
  });

  it('a download whose store goes silent mid-body fails with "no byte arrived for 1 s" instead of waiting for ever', async () => {
    await open();
    const source = randomStream(48 * MiB);
    await destination.put('b/object.bin', source.stream, ctx);
    const body = await destination.get('b/object.bin', ctx);
    let received = 0;
    const read = (async () => {
      for await (const chunk of body) {
        received += (chunk as Buffer).length;
        if (received > 4 * MiB) relay.freeze();
      }
    })();
    await expect(read).rejects.toThrow(
      /reading s3:\/\/.*b\/object\.bin: TimeoutError: no byte arrived for 1 s/,
    );
  });

  it('a download whose reader pauses longer than idleTimeout (an index build) still arrives byte-exact', async () => {
    await open();
    const source = randomStream(48 * MiB);
    await destination.put('c/object.bin', source.stream, ctx);
    const body = await destination.get('c/object.bin', ctx);
    const hash = createHash('sha256');
    let bytes = 0;
    for await (const chunk of body) {
      if (bytes === 0) await sleep(3000); // the store is idle all this time: the reader is not asking
      hash.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
    }
    expect(bytes).toBe(48 * MiB);
    expect(hash.digest('hex')).toBe(source.sha256());
  });
});
