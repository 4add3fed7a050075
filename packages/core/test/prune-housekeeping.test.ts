import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  acquireLease,
  LEASE_STALE_MS,
  MANIFEST_TIME_TOLERANCE_MS,
  pruneRepository,
  Repository,
  type RunContext,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';

const ctx: RunContext = {
  signal: new AbortController().signal,
  log: { info() {}, warn() {}, debug() {} },
  secrets: { passphrase: async () => 'unused' },
};

/** A memory destination whose housekeeping records the bound prune gives it. */
function recordingDestination() {
  const inner = memoryDestination();
  const bounds: Date[] = [];
  return {
    destination: {
      ...inner,
      async cleanup(olderThan: Date) {
        bounds.push(olderThan);
        return [];
      },
    },
    inner,
    bounds,
  };
}

describe('prune housekeeping bound', () => {
  it('with --grace 0 still spares the stale window, and everything since the oldest live lease began', async () => {
    const { destination, inner, bounds } = recordingDestination();
    const repository = new Repository(destination);
    await inner.put('other/20261206T000000Z-abcdef/data.bin', Readable.from([Buffer.from('x')]), ctx);

    const before = Date.now();
    await pruneRepository(repository, { keepLast: 1 }, ctx, { graceMs: 0, dryRun: true });
    expect(bounds[0]?.getTime()).toBeLessThanOrEqual(Date.now() - LEASE_STALE_MS);

    // A live lease of a run in another pipeline that began an hour ago (its upload is still open).
    const lease = await acquireLease(repository, ['other'], 'backup', ctx, { covers: '*' });
    const key = lease.keys[0] as string;
    const record = JSON.parse((inner.objects.get(key) as Buffer).toString());
    const hourAgo = before - 3600_000;
    record.start = new Date(hourAgo).toISOString();
    inner.objects.set(key, Buffer.from(JSON.stringify(record)));
    await pruneRepository(repository, { keepLast: 1 }, ctx, { pipeline: 'app', graceMs: 0, dryRun: true });
    expect(bounds[1]?.getTime()).toBe(hourAgo - MANIFEST_TIME_TOLERANCE_MS);
    await lease.release();
  });
});
