import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Destination, RunContext, StoredObject } from '@nexus-backup/core';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { expectNexusError, isAbortLike, rejectionOf } from './conformance-assertions.js';
import { createMemoryProbe, sampleEvery } from './conformance-memory.js';
import {
  collectStream,
  failingStream,
  hashStream,
  KiB,
  MiB,
  pausingStream,
  randomStream,
} from './conformance-streams.js';
import { createTestContext } from './context.js';

export interface DestinationUnderTest {
  destination: Destination;
  /** Removes what setup made (temp dirs, buckets); the suite has already called `destination.close()`. */
  teardown?(): Promise<void>;
}

export interface DestinationConformanceOptions {
  /** Size of the largest object in the round-trip test. Default 6 MiB. */
  roundTripBytes?: number;
  /** Size of the object streamed through put and get in the bounded-memory test. Default 64 MiB. */
  largeStreamBytes?: number;
  /** Largest growth of retained memory allowed while that object streams. Default 32 MiB. */
  maxRetainedBytes?: number;
  /** How many keys the listing test writes. Default 120; raise it past a store's page size (e.g. 1001). */
  manyKeys?: number;
  /** Allowed difference between `modified` and this machine's clock (coarse or remote clocks). Default 5 s. */
  clockToleranceMs?: number;
  /** Behaviours a destination may lack; each defaults to true, and `false` leaves its tests out. */
  capabilities?: {
    /** Overwriting a key shows readers the old or the new object, never a mix or nothing. */
    atomicOverwrite?: boolean;
    /** Aborting `ctx.signal` mid-put rejects the put and leaves nothing under the key. */
    abort?: boolean;
    /** A put that rejected leaves no leftover at all under the prefix (not even a temp object). */
    cleansUpFailedPut?: boolean;
  };
}

/**
 * Registers the Destination conformance tests. `setup` runs before every test and should return a
 * destination over an empty location (a fresh temp dir, a fresh bucket or prefix); start servers once
 * in your own `beforeAll` and let `setup` only make the location. Keys are written under a random
 * per-test prefix, so a shared location works too.
 */
export function describeDestinationConformance(
  name: string,
  setup: () => Promise<DestinationUnderTest>,
  options: DestinationConformanceOptions = {},
): void {
  const roundTripBytes = options.roundTripBytes ?? 6 * MiB;
  const largeStreamBytes = options.largeStreamBytes ?? 64 * MiB;
  const maxRetainedBytes = options.maxRetainedBytes ?? 32 * MiB;
  const manyKeys = options.manyKeys ?? 120;
  const clockToleranceMs = options.clockToleranceMs ?? 5000;
  const can = { atomicOverwrite: true, abort: true, cleansUpFailedPut: true, ...options.capabilities };

  describe(`${name} (destination conformance)`, () => {
    let underTest: DestinationUnderTest | undefined;
    let destination: Destination;
    let ctx: RunContext;
    let prefix: string;

    beforeEach(async () => {
      underTest = await setup();
      destination = underTest.destination;
      ctx = createTestContext();
      prefix = `conformance-${randomBytes(4).toString('hex')}/`;
    });

    afterEach(async () => {
      await underTest?.destination.close?.();
      await underTest?.teardown?.();
      underTest = undefined;
    });

    it('round-trips several objects byte-exact, including nested keys', async () => {
      const objects = [
        { key: `${prefix}one.bin`, bytes: roundTripBytes },
        { key: `${prefix}two.bin`, bytes: 1000 },
        { key: `${prefix}a/b/c.bin`, bytes: Math.ceil(roundTripBytes / 3) + 7 },
      ];
      const written = new Map<string, string>();
      for (const object of objects) {
        const body = randomStream(object.bytes);
        const result = await destination.put(object.key, body.stream, ctx);
        expect(result.bytes).toBe(object.bytes);
        written.set(object.key, body.sha256());
      }
      for (const object of objects) {
        const read = await hashStream(await destination.get(object.key, ctx));
        expect(read).toEqual({ bytes: object.bytes, sha256: written.get(object.key) });
      }
    });

    it('stores and returns an empty object', async () => {
      const key = `${prefix}empty.bin`;
      expect(await destination.put(key, Readable.from([]), ctx)).toEqual({ bytes: 0 });
      expect((await collectStream(await destination.get(key, ctx))).length).toBe(0);
      const listed = await listAll(destination, prefix, ctx);
      expect(listed.map(({ key, bytes }) => ({ key, bytes }))).toEqual([{ key, bytes: 0 }]);
    });

    it('lists exactly the keys that start with a prefix, with their sizes and modification times', async () => {
      const before = Date.now();
      const sizes: Record<string, number> = {
        'x/1.bin': 10,
        'x/2.bin': 2 * KiB,
        'y/1.bin': 5,
        'xylophone.bin': 3,
      };
      for (const [key, bytes] of Object.entries(sizes)) {
        await destination.put(prefix + key, Readable.from([randomBytes(bytes)]), ctx);
      }
      const after = Date.now();

      const underX = await listAll(destination, `${prefix}x/`, ctx);
      expect(underX.map((object) => object.key).sort()).toEqual([`${prefix}x/1.bin`, `${prefix}x/2.bin`]);
      for (const object of underX) {
        expect(object.bytes).toBe(sizes[object.key.slice(prefix.length)]);
        expect(object.modified).toBeInstanceOf(Date);
        // Stores keep whole seconds at best, hence a second of slack on the lower side.
        expect(object.modified.getTime()).toBeGreaterThanOrEqual(before - 1000 - clockToleranceMs);
        expect(object.modified.getTime()).toBeLessThanOrEqual(after + clockToleranceMs);
      }

      // A prefix is a string prefix, not a directory: `x` also matches `xylophone.bin`.
      const startingWithX = await listAll(destination, `${prefix}x`, ctx);
      expect(startingWithX.map((object) => object.key).sort()).toEqual(
        [`${prefix}x/1.bin`, `${prefix}x/2.bin`, `${prefix}xylophone.bin`].sort(),
      );
      expect(await listAll(destination, `${prefix}nothing-here/`, ctx)).toEqual([]);
      const everything = (await listAll(destination, '', ctx)).map((object) => object.key);
      for (const key of Object.keys(sizes)) expect(everything).toContain(prefix + key);
    });

    it('deletes keys, and deleting a missing key is not an error', async () => {
      await destination.put(`${prefix}gone.bin`, Readable.from([Buffer.from('gone')]), ctx);
      await destination.put(`${prefix}kept.bin`, Readable.from([Buffer.from('kept')]), ctx);
      await destination.delete([`${prefix}gone.bin`, `${prefix}never-existed.bin`], ctx);
      await destination.delete([`${prefix}gone.bin`], ctx);
      await destination.delete([], ctx);
      expect((await listAll(destination, prefix, ctx)).map((object) => object.key)).toEqual([
        `${prefix}kept.bin`,
      ]);
      await expectNotFound(destination.get(`${prefix}gone.bin`, ctx));
      expect((await collectStream(await destination.get(`${prefix}kept.bin`, ctx))).toString()).toBe('kept');
    });

    it('rejects get of a missing key with NexusError NOT_FOUND', async () => {
      await expectNotFound(destination.get(`${prefix}missing.bin`, ctx));
      await expectNotFound(destination.get(`${prefix}no/such/dir/missing.bin`, ctx));
    });

    if (can.atomicOverwrite) {
      it('shows readers the whole old object while an overwrite is in flight, then the whole new one', async () => {
        const key = `${prefix}overwritten.bin`;
        const old = randomStream(MiB + 3);
        await destination.put(key, old.stream, ctx);
        const replacement = pausingStream(3 * MiB, 2 * MiB);
        const putting = destination.put(key, replacement.stream, ctx);
        await replacement.paused;
        expect(await hashStream(await destination.get(key, ctx))).toEqual({
          bytes: MiB + 3,
          sha256: old.sha256(),
        });
        expect((await listAll(destination, key, ctx)).filter((object) => object.key === key)).toMatchObject([
          { key, bytes: MiB + 3 },
        ]);
        replacement.resume();
        expect(await putting).toEqual({ bytes: 3 * MiB });
        expect(await hashStream(await destination.get(key, ctx))).toEqual({
          bytes: 3 * MiB,
          sha256: replacement.sha256(),
        });
      });
    }

    it('rejects a put whose body fails mid-way and shows nothing under the key', async () => {
      const key = `${prefix}failed.bin`;
      const body = failingStream(MiB + 5, new Error('body failed mid-way'));
      await expect(destination.put(key, body, ctx)).rejects.toThrow();
      await expectNotFound(destination.get(key, ctx));
      const listed = await listAll(destination, prefix, ctx);
      expect(listed.map((object) => object.key)).not.toContain(key);
      if (can.cleansUpFailedPut) expect(listed).toEqual([]);
    });

    if (can.atomicOverwrite) {
      it('keeps the old object when an overwrite fails mid-way', async () => {
        const key = `${prefix}kept-on-failure.bin`;
        const old = randomStream(200 * KiB);
        await destination.put(key, old.stream, ctx);
        await expect(destination.put(key, failingStream(MiB), ctx)).rejects.toThrow();
        expect(await hashStream(await destination.get(key, ctx))).toEqual({
          bytes: 200 * KiB,
          sha256: old.sha256(),
        });
      });
    }

    if (can.abort) {
      it('rejects a put aborted through ctx.signal mid-stream, destroys the body and shows nothing', async () => {
        const key = `${prefix}aborted.bin`;
        const controller = new AbortController();
        const abortable = createTestContext({ signal: controller.signal });
        const body = pausingStream(4 * MiB, MiB);
        const putting = rejectionOf(destination.put(key, body.stream, abortable));
        await body.paused;
        controller.abort();
        // A put that ignored the abort now runs to completion and fails below, instead of hanging.
        body.resume();
        const error = await putting;
        expect(error, 'put resolved although it was aborted').toBeDefined();
        expect(isAbortLike(error), `put rejected with a non-abort error: ${String(error)}`).toBe(true);
        expect(body.stream.destroyed).toBe(true);
        await expectNotFound(destination.get(key, ctx));
        const listed = await listAll(destination, prefix, ctx);
        expect(listed.map((object) => object.key)).not.toContain(key);
        if (can.cleansUpFailedPut) expect(listed).toEqual([]);
      });
    }

    it('streams a large object through put and a slow reader of get with bounded memory', async () => {
      const key = `${prefix}large.bin`;
      const putProbe = createMemoryProbe();
      const body = randomStream(largeStreamBytes, { onChunk: sampleEvery(putProbe, 4 * MiB) });
      expect(await destination.put(key, body.stream, ctx)).toEqual({ bytes: largeStreamBytes });
      expect(putProbe.peakGrowth(), 'memory retained during put').toBeLessThan(maxRetainedBytes);

      const getProbe = createMemoryProbe();
      const sample = sampleEvery(getProbe, 4 * MiB);
      const read = await destination.get(key, ctx);
      let bytes = 0;
      for await (const chunk of read) {
        bytes += (chunk as Buffer).length;
        sample(bytes);
        await nextTurn(); // a slow consumer: the destination must wait for us, not buffer ahead
      }
      expect(bytes).toBe(largeStreamBytes);
      expect(getProbe.peakGrowth(), 'memory retained during a slow get').toBeLessThan(maxRetainedBytes);
    });

    it(`lists all of ${manyKeys} keys exactly once`, async () => {
      const keys = Array.from(
        { length: manyKeys },
        (_, index) => `${prefix}many/key-${String(index).padStart(5, '0')}`,
      );
      const queue = [...keys];
      const writers = Array.from({ length: 8 }, async () => {
        for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
          await destination.put(key, Readable.from([Buffer.from(key)]), ctx);
        }
      });
      await Promise.all(writers);
      const listed = await listAll(destination, `${prefix}many/`, ctx);
      expect(listed.map((object) => object.key).sort()).toEqual(keys);
      for (const object of listed) expect(object.bytes).toBe(Buffer.byteLength(object.key));
    });
  });
}

async function listAll(destination: Destination, prefix: string, ctx: RunContext): Promise<StoredObject[]> {
  const objects: StoredObject[] = [];
  for await (const object of destination.list(prefix, ctx)) objects.push(object);
  return objects;
}

function expectNotFound(promise: Promise<unknown>): Promise<void> {
  return expectNexusError(promise, 'NOT_FOUND');
}
