import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  type BackupPlan,
  defineSource,
  Repository,
  type RestoreArtifact,
  runBackup,
  runRestore,
  type Source,
} from '@nexus-backup/core';
import { createTestContext, MiB, pausingStream, randomStream } from '@nexus-backup/testkit';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

let server: SshdHandle;
const ctx = createTestContext();

beforeAll(async () => {
  server = await startSshd();
});
afterAll(async () => {
  await server?.stop();
});

/** A source of one generated artifact; restore hashes what it receives. */
function generatedSource(stream: () => Readable, restored: { sha256?: string }): Source {
  return {
    describe: async () => ({ kind: 'generated' }),
    async *backup() {
      yield { name: 'data.bin', stream: stream() };
    },
    async restore(_ctx, artifacts: AsyncIterable<RestoreArtifact>) {
      for await (const artifact of artifacts) {
        const hash = createHash('sha256');
        for await (const chunk of artifact.stream) hash.update(chunk as Buffer);
        restored.sha256 = hash.digest('hex');
      }
      return { lines: [] };
    },
  };
}

function planFor(repository: Repository, source: Source): BackupPlan {
  const definition = defineSource({
    name: 'generated',
    description: 'test data',
    options: {},
    restoreOptions: {},
    create: () => source,
  });
  return {
    pipeline: 'e2e',
    source: { definition, version: '0.0.0', source, options: {} },
    transforms: [],
    targets: [{ repository, optional: false }],
  };
}

describe('a repository on sftp', () => {
  it('survives a session killed mid-backup: no backup and no manifest appear, and the next run backs up and restores', async () => {
    const destination = await destinationFor(repositoryUrl(server, freshPath(server, 'repo')));
    const repository = new Repository(destination);

    const stalled = pausingStream(6 * MiB, 2 * MiB);
    const failed = runBackup(
      planFor(
        repository,
        generatedSource(() => stalled.stream, {}),
      ),
      ctx,
    );
    failed.catch(() => {});
    await stalled.paused;
    await server.killSessions();
    stalled.resume();
    await expect(failed).rejects.toMatchObject({ code: 'CONNECTION' });
    const afterFailure = await repository.scan(ctx);
    expect(afterFailure.backups).toEqual([]);
    expect(afterFailure.unreadable).toEqual([]);
    const keys: string[] = [];
    for await (const object of destination.list('', ctx)) keys.push(object.key);
    expect(keys.filter((key) => key.endsWith('manifest.json'))).toEqual([]);

    const data = randomStream(3 * MiB + 17);
    const result = await runBackup(
      planFor(
        repository,
        generatedSource(() => data.stream, {}),
      ),
      ctx,
    );
    expect(result.targets).toEqual([expect.objectContaining({ ok: true })]);
    const [backup] = (await repository.scan(ctx)).backups;
    expect(backup?.id).toBe(result.manifest.id);

    const restored: { sha256?: string } = {};
    const source = generatedSource(() => {
      throw new Error('restore must not read the source');
    }, restored);
    await runRestore(
      { repository, backup: backup as NonNullable<typeof backup>, source, stages: [], target: {} },
      ctx,
    );
    expect(restored.sha256).toBe(data.sha256());
    await destination.close?.();
  });
});
