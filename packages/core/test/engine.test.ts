import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import {
  type BackupPlan,
  defineSource,
  defineTransform,
  type ProgressSink,
  Repository,
  type RestoreArtifact,
  runBackup,
  runRestore,
} from '../src/index.js';
import { memoryDestination } from './memory-destination.js';
import { testContext } from './test-context.js';

const ctx = testContext;

const payloads = { 'one.bin': randomBytes(300_000), 'two.bin': randomBytes(5) };

/** A source whose restore collects what it is given, after a pause (a slow consumer attaching late). */
const bytesSource = defineSource({
  name: 'bytes',
  description: 'fixed artifacts',
  options: {},
  restoreOptions: {},
  create: () => ({
    describe: async () => ({ artifacts: Object.keys(payloads).length }),
    async *backup() {
      for (const [name, data] of Object.entries(payloads)) yield { name, stream: Readable.from([data]) };
    },
    async restore(_ctx, artifacts: AsyncIterable<RestoreArtifact>) {
      const restored: Record<string, Buffer> = {};
      for await (const artifact of artifacts) {
        await sleep(50);
        restored[artifact.name] = await buffer(artifact.stream);
      }
      return {
        lines: [],
        details: Object.fromEntries(Object.entries(restored).map(([k, v]) => [k, v.toString('base64')])),
      };
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

async function plan(targets: BackupPlan['targets']): Promise<BackupPlan> {
  return {
    pipeline: 'test',
    source: { definition: bytesSource, version: '1', source: await bytesSource.create({}), options: {} },
    transforms: [{ definition: gzipStage, version: '1', transform: await gzipStage.create({}) }],
    targets,
  };
}

const progressRecorder = () => {
  const seen = { bytes: 0 };
  const sink: ProgressSink = { start() {}, advance: (count) => (seen.bytes += count), done() {} };
  return { seen, sink };
};

describe('backup and restore engine', () => {
  it('writes artifacts then the manifest to every repository, and restores byte-exact with progress attached', async () => {
    const first = new Repository(memoryDestination());
    const second = new Repository(memoryDestination());
    const result = await runBackup(
      await plan([
        { repository: first, optional: false },
        { repository: second, optional: false },
      ]),
      ctx(),
    );
    expect(result.warnings).toEqual([]);
    for (const repository of [first, second]) {
      const keys = [...(repository.destination as ReturnType<typeof memoryDestination>).objects.keys()];
      expect(keys.map((key) => key.split('/').at(-1)).sort()).toEqual([
        'manifest.json',
        'one.bin.gz',
        'two.bin.gz',
      ]);
    }
    expect(result.manifest.artifacts.map((a) => a.raw.bytes)).toEqual([300_000, 5]);

    const backup = await first.find('test@latest', ctx());
    const { seen, sink } = progressRecorder();
    const report = await runRestore(
      {
        repository: first,
        backup,
        source: await bytesSource.create({}),
        stages: [{ definition: gzipStage, transform: await gzipStage.create({}) }],
        target: {},
      },
      ctx(sink),
    );
    const details = report.details as Record<string, string>;
    expect(Buffer.from(details['one.bin'] as string, 'base64').equals(payloads['one.bin'])).toBe(true);
    expect(Buffer.from(details['two.bin'] as string, 'base64').equals(payloads['two.bin'])).toBe(true);
    expect(seen.bytes).toBe(300_005);
  });

  it('an optional repository failing is a warning; the required one still gets a complete backup', async () => {
    const good = new Repository(memoryDestination());
    const flaky = new Repository(memoryDestination({ failPuts: /two\.bin/ }), 'flaky');
    const result = await runBackup(
      await plan([
        { repository: good, optional: false },
        { repository: flaky, optional: true },
      ]),
      ctx(),
    );
    expect(result.warnings.join()).toContain('optional repository flaky failed');
    expect((await good.scan(ctx())).backups).toHaveLength(1);
    const flakyScan = await flaky.scan(ctx());
    expect(flakyScan.backups).toEqual([]);
    expect(flakyScan.leftovers).toEqual([]);
  });

  it('a required repository failing fails the run and removes the partial backup from every repository', async () => {
    const good = new Repository(memoryDestination());
    const broken = new Repository(memoryDestination({ failPuts: /manifest/ }), 'broken');
    await expect(
      runBackup(
        await plan([
          { repository: good, optional: false },
          { repository: broken, optional: false },
        ]),
        ctx(),
      ),
    ).rejects.toThrow(/refuses/);
    expect((good.destination as ReturnType<typeof memoryDestination>).objects.size).toBe(0);
    expect((broken.destination as ReturnType<typeof memoryDestination>).objects.size).toBe(0);
  });

  it('restore fails at the end of a stream whose stored bytes changed, before the source sees a clean end', async () => {
    const repository = new Repository(memoryDestination());
    await runBackup(await plan([{ repository, optional: false }]), ctx());
    const objects = (repository.destination as ReturnType<typeof memoryDestination>).objects;
    const key = [...objects.keys()].find((k) => k.endsWith('two.bin.gz')) as string;
    const damaged = Buffer.from(objects.get(key) as Buffer);
    damaged[damaged.length - 1] ^= 0xff;
    objects.set(key, damaged);
    const backup = await repository.find('test', ctx());
    await expect(
      runRestore(
        {
          repository,
          backup,
          source: await bytesSource.create({}),
          stages: [{ definition: gzipStage, transform: await gzipStage.create({}) }],
          target: {},
        },
        ctx(),
      ),
    ).rejects.toThrow(/does not match its manifest|unexpected end|incorrect/);
  });

  it('a source failing before the destination started reading fails the run cleanly, with nothing stored', async () => {
    const failingSource = defineSource({
      name: 'failing',
      description: 'fails at once',
      options: {},
      restoreOptions: {},
      create: () => ({
        describe: async () => ({}),
        async *backup() {
          yield {
            name: 'broken.bin',
            stream: new Readable({
              read() {
                this.destroy(new Error('disk read failed'));
              },
            }),
          };
        },
        restore: async () => ({ lines: [] }),
      }),
    });
    const repository = new Repository(memoryDestination({ delayBeforeRead: 50 }));
    const failing = await plan([{ repository, optional: false }]);
    failing.source = {
      definition: failingSource,
      version: '1',
      source: await failingSource.create({}),
      options: {},
    };
    await expect(runBackup(failing, ctx())).rejects.toThrow(/disk read failed/);
    await sleep(100);
    expect((repository.destination as ReturnType<typeof memoryDestination>).objects.size).toBe(0);
  });

  it('@latest is the newest backup even when several share the second their ids are named after', async () => {
    const repository = new Repository(memoryDestination());
    const ids: string[] = [];
    for (let run = 0; run < 5; run += 1) {
      ids.push((await runBackup(await plan([{ repository, optional: false }]), ctx())).manifest.id);
      await sleep(2);
    }
    expect((await repository.find('test@latest', ctx())).id).toBe(ids.at(-1));
    expect((await repository.scan(ctx())).backups.map((backup) => backup.id)).toEqual(ids);
  });
});
