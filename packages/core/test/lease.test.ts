import { describe, expect, it } from 'vitest';
import { acquireLease, NexusError, Repository, type RunContext, withLease } from '../src/index.js';
import { memoryDestination } from './memory-destination.js';

const warnings: string[] = [];
const ctx: RunContext = {
  signal: new AbortController().signal,
  log: { info() {}, warn: (message) => warnings.push(message), debug() {} },
  secrets: { passphrase: async () => 'unused' },
};

describe('lease heartbeat', () => {
  it('aborts its signal when renewals fail for half the stale bound, so the holder stops before others take over', async () => {
    let failing = false;
    const inner = memoryDestination();
    const repository = new Repository({
      ...inner,
      async put(key, body, runCtx) {
        if (failing) {
          body.destroy();
          throw new NexusError('IO', 'store unreachable');
        }
        return inner.put(key, body, runCtx);
      },
    });
    const lease = await acquireLease(repository, ['app'], 'backup', ctx, { heartbeatMs: 10, staleMs: 200 });
    expect(lease.signal.aborted).toBe(false);
    failing = true;
    await new Promise((resolve) => lease.signal.addEventListener('abort', resolve, { once: true }));
    expect(String((lease.signal.reason as Error).message)).toMatch(
      /lost the backup lease in memory:\/\/test/,
    );
    expect(warnings.some((line) => line.includes('could not renew the backup lease'))).toBe(true);
    await lease.release();
    expect([...inner.objects.keys()]).toEqual([]);
  });

  it('withLease releases its lease when the work throws', async () => {
    const inner = memoryDestination();
    const repository = new Repository(inner);
    await expect(
      withLease(repository, 'app', 'drill', ctx, async () => {
        expect([...inner.objects.keys()]).toHaveLength(1);
        throw new Error('drill failed');
      }),
    ).rejects.toThrow('drill failed');
    expect([...inner.objects.keys()]).toEqual([]);
  });
});
