import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  type Artifact,
  type BackupPlan,
  defineSource,
  defineTransform,
  NexusError,
  Repository,
  runBackup,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';
import { testContext } from './test-context.js';
import { collectUnhandledRejections } from './unhandled-rejections.js';

const ctx = testContext;

interface Hooks {
  prepare: () => Promise<void>;
  describe: () => Promise<void>;
  artifacts: () => Artifact[];
}

/** One source and one transform whose steps are the test's; `events` records the order they ran in. */
async function planFor(hooks: Hooks, repository: Repository, events: string[]): Promise<BackupPlan> {
  const transform = defineTransform({
    name: 'kdf',
    description: 'a transform with one-off work',
    extension: '.k',
    options: {},
    create: () => ({
      params: () => ({}),
      prepare: async () => {
        events.push('prepare started');
        await hooks.prepare();
        events.push('prepare done');
      },
      encode: async () => {
        events.push('encode');
        const { PassThrough } = await import('node:stream');
        return new PassThrough();
      },
      decode: async () => {
        throw new Error('not used');
      },
    }),
  });
  const source = defineSource({
    name: 'db',
    description: 'artifacts made by the test',
    options: {},
    restoreOptions: {},
    create: () => ({
      describe: async () => {
        events.push('describe');
        await hooks.describe();
        return {};
      },
      async *backup() {
        events.push('backup started');
        yield* hooks.artifacts();
      },
      restore: async () => ({ lines: [] }),
    }),
  });
  return {
    pipeline: 'test',
    source: { definition: source, version: '1', source: await source.create({}), options: {} },
    transforms: [{ definition: transform, version: '1', transform: await transform.create({}) }],
    targets: [{ repository, optional: false }],
  };
}

/** An artifact that records when its bytes are first asked for and whether it was destroyed. */
function artifact(events: string[]): Artifact {
  let read = false;
  const stream = new Readable({
    read() {
      if (!read) events.push('artifact read');
      read = true;
      this.push(Buffer.from('rows'));
      this.push(null);
    },
    destroy(error, callback) {
      if (!read) events.push('artifact destroyed unread');
      callback(error);
    },
  });
  return { name: 'data.sql', stream };
}

const unhandled = collectUnhandledRejections();

describe('Transform.prepare', () => {
  it('starts before the source describes and plans, runs beside them, and ends before the first artifact is encoded or read', async () => {
    const events: string[] = [];
    let releasePrepare: () => void = () => undefined;
    const prepareMayEnd = new Promise<void>((resolve) => (releasePrepare = resolve));
    const repository = new Repository(memoryDestination());
    const plan = await planFor(
      {
        // Ends only once the source is planning: were it awaited before describe, the backup would hang.
        prepare: () => prepareMayEnd,
        describe: async () => undefined,
        artifacts: () => {
          releasePrepare();
          return [artifact(events)];
        },
      },
      repository,
      events,
    );
    const result = await runBackup(plan, ctx());
    expect(result.manifest.artifacts.map((stored) => stored.name)).toEqual(['data.sql']);
    expect(events).toEqual([
      'prepare started',
      'describe',
      'backup started',
      'prepare done',
      'encode',
      'artifact read',
    ]);
  });

  it('a failing prepare fails the backup with its error, names its provider, reads no artifact and leaves no backup', async () => {
    const events: string[] = [];
    const destination = memoryDestination();
    const plan = await planFor(
      {
        prepare: async () => {
          throw new Error('scrypt N=2^30 needs more memory than allowed');
        },
        describe: async () => undefined,
        artifacts: () => [artifact(events)],
      },
      new Repository(destination),
      events,
    );
    const failure = await runBackup(plan, ctx()).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(NexusError);
    expect((failure as NexusError).message).toMatch(/scrypt N=2\^30 needs more memory than allowed/);
    expect((failure as NexusError).provider).toBe('kdf');
    expect(events).not.toContain('encode');
    expect(events).toContain('artifact destroyed unread');
    expect(destination.objects.size).toBe(0);
    expect(unhandled).toEqual([]);
  });

  it('a run that fails before any artifact reports its own error, and a failed prepare is no unhandled rejection', async () => {
    const events: string[] = [];
    const destination = memoryDestination();
    const plan = await planFor(
      {
        prepare: async () => {
          throw new Error('the passphrase is empty');
        },
        describe: async () => {
          throw new Error('the server refused the connection');
        },
        artifacts: () => [artifact(events)],
      },
      new Repository(destination),
      events,
    );
    await expect(runBackup(plan, ctx())).rejects.toThrow(/the server refused the connection/);
    // Let a rejection nobody handled be reported.
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(unhandled).toEqual([]);
    expect(destination.objects.size).toBe(0);
  });
});

describe('Source.describe beside the backup', () => {
  it('a describe that fails while an artifact streams cancels the backup, is the error, and leaves no backup', async () => {
    const events: string[] = [];
    const destination = memoryDestination();
    let failDescribe: (error: Error) => void = () => undefined;
    let destroyed = false;
    const endless = new Readable({
      read() {
        events.push('artifact read');
        // Describe fails once the first bytes are flowing; the stream never ends by itself.
        failDescribe(new Error('pg_database_size failed'));
        this.push(Buffer.alloc(1000, 1));
      },
      destroy(error, callback) {
        destroyed = true;
        callback(error);
      },
    });
    const plan = await planFor(
      {
        prepare: async () => undefined,
        describe: () => new Promise<void>((_, reject) => (failDescribe = reject)),
        artifacts: () => [{ name: 'data.sql', stream: endless }],
      },
      new Repository(destination),
      events,
    );
    await expect(runBackup(plan, ctx())).rejects.toThrow(/pg_database_size failed/);
    expect(destroyed).toBe(true);
    expect(destination.objects.size).toBe(0);
    expect(unhandled).toEqual([]);
  });
});
