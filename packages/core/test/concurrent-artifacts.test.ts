import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type Artifact,
  type BackupPlan,
  defineSource,
  defineTransform,
  Repository,
  runBackup,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';
import { testContext } from './test-context.js';

const ctx = testContext;

let encodes = 0;
const gzipStage = defineTransform({
  name: 'gz',
  description: 'zlib gzip',
  extension: '.gz',
  options: {},
  create: () => ({
    params: () => ({}),
    encode: async () => {
      encodes++;
      return createGzip();
    },
    decode: async () => {
      throw new Error('not used');
    },
  }),
});

/** A source that yields the given artifacts and lets core store `concurrent` of them at once. */
async function planFor(
  artifacts: () => Artifact[],
  concurrent: number,
  repositories: Repository[],
): Promise<BackupPlan> {
  const definition = defineSource({
    name: 'parts',
    description: 'artifacts made by the test',
    options: {},
    restoreOptions: {},
    create: () => ({
      concurrentArtifacts: concurrent,
      describe: async () => ({}),
      async *backup() {
        yield* artifacts();
      },
      restore: async () => ({ lines: [] }),
    }),
  });
  return {
    pipeline: 'test',
    source: { definition, version: '1', source: await definition.create({}), options: {} },
    transforms: [{ definition: gzipStage, version: '1', transform: await gzipStage.create({}) }],
    targets: repositories.map((repository) => ({ repository, optional: false })),
  };
}

const payload = (index: number) => Buffer.alloc(50_000 + index * 1000, index);

describe('a source with concurrentArtifacts', () => {
  it('has up to that many artifacts stored at once, each encoded once and fanned out to every repository, listed in yield order', async () => {
    const limit = 3;
    const count = 7;
    let active = 0;
    let mostActive = 0;
    const started: (() => void)[] = [];
    const startedPromises = Array.from(
      { length: count },
      (_, index) => new Promise<void>((resolve) => (started[index] = resolve)),
    );
    // Artifact i ends only once artifact i + limit - 1 has started: stored one at a time, it could not end.
    const artifacts = () =>
      Array.from({ length: count }, (_, index): Artifact => {
        async function* bytes(): AsyncGenerator<Buffer> {
          active++;
          mostActive = Math.max(mostActive, active);
          started[index]?.();
          yield payload(index).subarray(0, 10);
          await (startedPromises[Math.min(index + limit - 1, count - 1)] as Promise<void>);
          yield payload(index).subarray(10);
          active--;
        }
        return { name: `part-${index}.bin`, stream: Readable.from(bytes()), meta: { index } };
      });
    const repositories = [new Repository(memoryDestination()), new Repository(memoryDestination())];
    encodes = 0;
    const result = await runBackup(await planFor(artifacts, limit, repositories), ctx());
    expect(mostActive).toBe(limit);
    expect(encodes).toBe(count);
    expect(result.manifest.artifacts.map((artifact) => artifact.name)).toEqual(
      Array.from({ length: count }, (_, index) => `part-${index}.bin`),
    );
    for (const [index, artifact] of result.manifest.artifacts.entries()) {
      expect(artifact.meta).toEqual({ index });
      expect(artifact.raw).toEqual({
        bytes: payload(index).length,
        sha256: createHash('sha256').update(payload(index)).digest('hex'),
      });
    }
    for (const repository of repositories) {
      const keys = [...(repository.destination as ReturnType<typeof memoryDestination>).objects.keys()];
      expect(keys.filter((key) => key.endsWith('.bin.gz'))).toHaveLength(count);
      expect(keys.some((key) => key.endsWith('manifest.json'))).toBe(true);
    }
  });

  it('one artifact failing cancels the others being stored and leaves no backup in any repository', async () => {
    const destroyed: string[] = [];
    let failNow: () => void = () => undefined;
    const othersStarted = new Promise<void>((resolve) => (failNow = resolve));
    let startedCount = 0;
    const endless = (name: string): Artifact => {
      const stream = new Readable({
        read() {
          startedCount++;
          if (startedCount === 2) failNow();
          // Never ends by itself: only a cancel stops it.
          if (startedCount <= 2) this.push(Buffer.alloc(1000, 1));
        },
        destroy(error, callback) {
          destroyed.push(name);
          callback(error);
        },
      });
      return { name, stream };
    };
    const failing: Artifact = {
      name: 'failing.bin',
      stream: Readable.from(
        (async function* () {
          await othersStarted;
          yield Buffer.from('some bytes');
          throw new Error('the third artifact broke');
        })(),
      ),
    };
    const repositories = [new Repository(memoryDestination()), new Repository(memoryDestination())];
    const plan = await planFor(() => [endless('one.bin'), endless('two.bin'), failing], 3, repositories);
    await expect(runBackup(plan, ctx())).rejects.toThrow(/the third artifact broke/);
    expect(destroyed.sort()).toEqual(['one.bin', 'two.bin']);
    for (const repository of repositories) {
      expect((repository.destination as ReturnType<typeof memoryDestination>).objects.size).toBe(0);
    }
  });
});
