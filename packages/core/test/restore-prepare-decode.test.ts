import { PassThrough, Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  defineSource,
  defineTransform,
  type Json,
  Repository,
  type RestoreArtifact,
  runBackup,
  runRestore,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';
import { testContext } from './test-context.js';
import { collectUnhandledRejections } from './unhandled-rejections.js';

const ctx = testContext;

/** A source whose restore records when it started and what it read, in `events`. */
function recordingSource(events: string[]) {
  return defineSource({
    name: 'rec',
    description: 'records the order of a restore',
    options: {},
    restoreOptions: {},
    create: () => ({
      describe: async () => ({}),
      async *backup() {
        yield { name: 'data.bin', stream: Readable.from([Buffer.from('rows')]) };
      },
      async restore(_ctx, artifacts: AsyncIterable<RestoreArtifact>) {
        events.push('source restore started');
        for await (const artifact of artifacts)
          events.push(`read ${(await buffer(artifact.stream)).toString()}`);
        return { lines: [] };
      },
    }),
  });
}

/** A pass-through transform with a salt in its params and a `prepareDecode` the test controls. */
function keyedStage(events: string[], prepareDecode: (params: { [key: string]: Json }) => Promise<void>) {
  return defineTransform({
    name: 'keyed',
    description: 'stores a salt, prepares its key on restore',
    extension: '.k',
    options: {},
    create: () => ({
      params: () => ({ salt: 'c0ffee' }),
      encode: async () => new PassThrough(),
      prepareDecode: async (_ctx, params) => {
        events.push(`prepareDecode ${JSON.stringify(params)}`);
        await prepareDecode(params);
      },
      decode: async () => {
        events.push('decode');
        return new PassThrough();
      },
    }),
  });
}

async function restoreWith(prepareDecode: (params: { [key: string]: Json }) => Promise<void>) {
  const events: string[] = [];
  const source = recordingSource(events);
  const stage = keyedStage(events, prepareDecode);
  const repository = new Repository(memoryDestination());
  await runBackup(
    {
      pipeline: 'keyed',
      source: { definition: source, version: '1', source: await source.create({}), options: {} },
      transforms: [{ definition: stage, version: '1', transform: await stage.create({}) }],
      targets: [{ repository, optional: false }],
    },
    ctx(),
  );
  events.length = 0;
  await runRestore(
    {
      repository,
      backup: await repository.find('keyed@latest', ctx()),
      source: await source.create({}),
      stages: [{ definition: stage, transform: await stage.create({}) }],
      target: {},
    },
    ctx(),
  );
  return events;
}

const unhandled = collectUnhandledRejections();

describe("a transform's prepareDecode (one-off work of a restore, e.g. a key derivation)", () => {
  it('starts with the params the manifest stored, before the source opens its target, and is not awaited', async () => {
    let finish: () => void = () => {};
    const pending = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const restored = restoreWith(() => pending);
    // The source got going while the preparation still runs: core did not wait for it.
    const events = await Promise.race([
      restored,
      new Promise<string[]>((resolve) => setTimeout(() => resolve([]), 5_000)),
    ]);
    finish();
    expect(events).toEqual([
      'prepareDecode {"salt":"c0ffee"}',
      'source restore started',
      'decode',
      'read rows',
    ]);
  });

  it('leaves a failure to decode: the restore goes on, and nothing is left unhandled', async () => {
    const events = await restoreWith(async () => {
      throw new Error('scrypt ran out of memory');
    });
    expect(events).toEqual([
      'prepareDecode {"salt":"c0ffee"}',
      'source restore started',
      'decode',
      'read rows',
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(unhandled).toEqual([]);
  });
});
