import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { createGunzip, createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  defineSource,
  defineTransform,
  Repository,
  type RestoreArtifact,
  runBackup,
  runRestore,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';
import { testContext } from './test-context.js';

const ctx = testContext;

const payloads = { 'skipped.bin': randomBytes(200_000), 'wanted.bin': randomBytes(70_000) };

/** Restores only `wanted.bin`: the other artifact's stream is destroyed without a read. */
const choosySource = defineSource({
  name: 'choosy',
  description: 'reads one artifact of two',
  options: {},
  restoreOptions: {},
  create: () => ({
    describe: async () => ({}),
    async *backup() {
      for (const [name, data] of Object.entries(payloads)) yield { name, stream: Readable.from([data]) };
    },
    async restore(_ctx, artifacts: AsyncIterable<RestoreArtifact>) {
      let wanted: Buffer | undefined;
      for await (const artifact of artifacts) {
        if (artifact.name === 'wanted.bin') wanted = await buffer(artifact.stream);
        else artifact.stream.destroy();
      }
      return { lines: [], details: { wanted: wanted?.toString('base64') ?? null } };
    },
  }),
});

const gzipStage = defineTransform({
  name: 'gz',
  description: 'zlib gzip',
  extension: '.gz',
  options: {},
  create: () => ({
    params: () => ({}),
    encode: async () => createGzip(),
    decode: async () => createGunzip(),
  }),
});

async function backedUp() {
  const destination = memoryDestination();
  const fetched: string[] = [];
  const get = destination.get.bind(destination);
  destination.get = async (key, context) => {
    const file = key.split('/').at(-1) as string;
    if (file !== 'manifest.json') fetched.push(file);
    return get(key, context);
  };
  const repository = new Repository(destination);
  await runBackup(
    {
      pipeline: 'lazy',
      source: { definition: choosySource, version: '1', source: await choosySource.create({}), options: {} },
      transforms: [{ definition: gzipStage, version: '1', transform: await gzipStage.create({}) }],
      targets: [{ repository, optional: false }],
    },
    ctx(),
  );
  const restore = async () =>
    runRestore(
      {
        repository,
        backup: await repository.find('lazy@latest', ctx()),
        source: await choosySource.create({}),
        stages: [{ definition: gzipStage, transform: await gzipStage.create({}) }],
        target: {},
      },
      ctx(),
    );
  return { destination, fetched, restore };
}

describe('restore opens an artifact only when the source reads it', () => {
  it('an artifact whose stream the source destroys unread is never fetched from the repository', async () => {
    const { fetched, restore } = await backedUp();
    const report = await restore();
    expect((report.details as { wanted: string }).wanted).toBe(payloads['wanted.bin'].toString('base64'));
    expect(fetched).toEqual(['wanted.bin.gz']);
  });

  it('an unread artifact may be damaged: the restore reads only what it needs, still checking that', async () => {
    const { destination, restore } = await backedUp();
    const damage = (name: string) => {
      const key = [...destination.objects.keys()].find((k) => k.endsWith(name)) as string;
      const damaged = Buffer.from(destination.objects.get(key) as Buffer);
      damaged[damaged.length - 1] ^= 0xff;
      destination.objects.set(key, damaged);
    };
    damage('skipped.bin.gz');
    const report = await restore();
    expect((report.details as { wanted: string }).wanted).toBe(payloads['wanted.bin'].toString('base64'));

    damage('wanted.bin.gz');
    await expect(restore()).rejects.toThrow(/wanted\.bin/);
  });
});
