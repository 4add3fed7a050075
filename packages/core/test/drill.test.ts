import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { describe, expect, it } from 'vitest';
import {
  type DrillOptions,
  defineSource,
  NexusError,
  Repository,
  type RestoreArtifact,
  type RunContext,
  runBackup,
  runDrill,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';
import { testContext } from './test-context.js';

const ctx = testContext;

const PAYLOAD = Buffer.from('twelve bytes');

/** Drills by reading every artifact and comparing its length with the `length` its meta recorded. */
const drillable = defineSource({
  name: 'drillable',
  description: 'one artifact that knows its length',
  options: {},
  restoreOptions: {},
  create: () => ({
    describe: async () => ({}),
    async *backup() {
      yield { name: 'data.bin', stream: Readable.from([PAYLOAD]), meta: { length: PAYLOAD.length } };
    },
    restore: async () => ({ lines: [] }),
    async drill(_ctx: RunContext, artifacts: AsyncIterable<RestoreArtifact>, options: DrillOptions) {
      const checks = [];
      for await (const artifact of artifacts) {
        const bytes = await buffer(artifact.stream);
        checks.push({
          name: `length ${artifact.name}`,
          ok: bytes.length === artifact.meta.length,
          expected: artifact.meta.length ?? null,
          actual: bytes.length,
        });
      }
      checks.push({ name: 'options', ok: options.checks.length === 1 && options.pipeline === 'test' });
      return { checks, notes: [], restoreMs: 1, facts: ['1 artifact'] };
    },
  }),
});

async function backedUp(): Promise<Repository> {
  const repository = new Repository(memoryDestination());
  await runBackup(
    {
      pipeline: 'test',
      source: { definition: drillable, version: '1', source: await drillable.create({}), options: {} },
      transforms: [],
      targets: [{ repository, optional: false }],
    },
    ctx(),
  );
  return repository;
}

describe('runDrill', () => {
  it('hands the source every artifact decoded and checked, and reports bytes restored and ok from its checks', async () => {
    const repository = await backedUp();
    const backup = await repository.find('test@latest', ctx());

    const result = await runDrill(
      {
        repository,
        backup,
        source: await drillable.create({}),
        stages: [],
        options: { checks: ['select true'] },
      },
      ctx(),
    );

    expect(result).toMatchObject({
      pipeline: 'test',
      backupId: backup.id,
      source: 'drillable',
      ok: true,
      bytesRestored: PAYLOAD.length,
      restoreMs: 1,
      facts: ['1 artifact'],
    });
    expect(result.checks[0]).toEqual({ name: 'length data.bin', ok: true, expected: 12, actual: 12 });
  });

  it('refuses a source that cannot drill, naming the provider and the backup', async () => {
    const repository = await backedUp();
    const backup = await repository.find('test@latest', ctx());
    const { drill: _drill, ...withoutDrill } = await drillable.create({});

    const drilled = runDrill(
      { repository, backup, source: withoutDrill, stages: [], options: { checks: [] } },
      ctx(),
    );

    await expect(drilled).rejects.toThrow(NexusError);
    await expect(drilled).rejects.toThrow(`drillable backups cannot be drilled (test@${backup.id})`);
  });
});
