import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  type BackupPlan,
  type Destination,
  defineSource,
  NexusError,
  Repository,
  runBackup,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';
import { testContext } from './test-context.js';

// Issue 12 (1, 2): a backup leases before it writes, and commits a manifest only over objects it sees.

const ctx = testContext;

const twoArtifacts = defineSource({
  name: 'two',
  description: 'two small artifacts',
  options: {},
  restoreOptions: {},
  create: () => ({
    describe: async () => ({}),
    async *backup() {
      yield { name: 'one.bin', stream: Readable.from([Buffer.alloc(1000, 1)]) };
      yield { name: 'two.bin', stream: Readable.from([Buffer.alloc(10, 2)]) };
    },
    restore: async () => ({ lines: [] }),
  }),
});

async function plan(targets: BackupPlan['targets']): Promise<BackupPlan> {
  return {
    pipeline: 'app',
    source: { definition: twoArtifacts, version: '1', source: await twoArtifacts.create({}), options: {} },
    transforms: [],
    targets,
  };
}

/** A memory destination where something else (a prune of an old version, an operator) acts after a put. */
function interfered(
  after: (key: string, objects: Map<string, Buffer>) => void,
): Destination & { objects: Map<string, Buffer>; log: string[] } {
  const inner = memoryDestination();
  const log: string[] = [];
  return {
    ...inner,
    async put(key, body, runCtx) {
      const result = await inner.put(key, body, runCtx);
      log.push(`put ${key}`);
      after(key, inner.objects);
      return result;
    },
    async delete(keys, runCtx) {
      for (const key of keys) log.push(`delete ${key}`);
      await inner.delete(keys, runCtx);
    },
    log,
  };
}

describe('backup commit check', () => {
  it('writes its lease before the first artifact and removes it after the manifest', async () => {
    const destination = interfered(() => {});
    await runBackup(await plan([{ repository: new Repository(destination), optional: false }]), ctx());
    const events = destination.log;
    expect(events[0]).toMatch(/^put app\/\.leases\/.+\.json$/);
    expect(events.at(-1)).toMatch(/^delete app\/\.leases\/.+\.json$/);
    expect(events.at(-2)).toMatch(/^put app\/.+\/manifest\.json$/);
    expect([...destination.objects.keys()].some((key) => key.includes('.leases'))).toBe(false);
  });

  it('writes no manifest when an artifact vanished before the commit, and names the missing object', async () => {
    const destination = interfered((key, objects) => {
      if (key.endsWith('/one.bin')) objects.delete(key);
    });
    const error = await runBackup(
      await plan([{ repository: new Repository(destination, 'repo'), optional: false }]),
      ctx(),
    ).catch((failure: unknown) => failure);
    expect(error).toBeInstanceOf(NexusError);
    expect((error as NexusError).code).toBe('INTEGRITY');
    expect((error as NexusError).exitCode).toBe(2);
    expect((error as NexusError).message).toMatch(
      /^repo\/app\/\d{8}T\d{6}Z-[0-9a-f]{6}\/one\.bin is missing; no manifest written$/,
    );
    expect(destination.log.some((line) => line.startsWith('put') && line.endsWith('manifest.json'))).toBe(
      false,
    );
    expect(destination.objects.size).toBe(0);
  });

  it('writes no manifest when an artifact changed size before the commit', async () => {
    const destination = interfered((key, objects) => {
      if (key.endsWith('/two.bin')) objects.set(key, Buffer.alloc(3));
    });
    await expect(
      runBackup(await plan([{ repository: new Repository(destination, 'repo'), optional: false }]), ctx()),
    ).rejects.toThrow(/two\.bin is 3 bytes, 10 were written; no manifest written/);
    expect(destination.log.some((line) => line.startsWith('put') && line.endsWith('manifest.json'))).toBe(
      false,
    );
  });

  it('an optional repository that lost an artifact gets no manifest and turns into a warning', async () => {
    const good = memoryDestination();
    const lossy = interfered((key, objects) => {
      if (key.endsWith('/one.bin')) objects.delete(key);
    });
    const result = await runBackup(
      await plan([
        { repository: new Repository(good), optional: false },
        { repository: new Repository(lossy, 'lossy'), optional: true },
      ]),
      ctx(),
    );
    expect(result.warnings.join()).toMatch(/optional repository lossy failed: .*one\.bin is missing/);
    expect([...good.objects.keys()].some((key) => key.endsWith('manifest.json'))).toBe(true);
    expect(lossy.objects.size).toBe(0);
  });
});
