import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RunContext, Source } from '../contracts.js';
import { defaultOptions } from '../options.js';
import type { ProviderRegistry } from '../registry.js';
import type { BackupEntry, Repository } from '../repository.js';
import { type DecodeStage, runRestore } from '../restore.js';

/** The decoders a backup's manifest names, created from their declared defaults (decode needs only params). */
export async function decodeStagesFor(
  backup: BackupEntry,
  registry: ProviderRegistry,
): Promise<DecodeStage[]> {
  const stages: DecodeStage[] = [];
  for (const transform of backup.manifest.transforms) {
    const definition = await registry.load('transform', transform.provider);
    stages.push({ definition, transform: await definition.create(defaultOptions(definition.options)) });
  }
  return stages;
}

/** A source that restores into nothing: reading through it checks every stored and decoded byte. */
const discardingSource: Source = {
  describe: async () => ({}),
  backup: () => {
    throw new Error('not a backup source');
  },
  async restore(ctx, artifacts) {
    let count = 0;
    for await (const artifact of artifacts) {
      await pipeline(artifact.stream, new Writable({ write: (_chunk, _encoding, done) => done() }), {
        signal: ctx.signal,
      });
      count += 1;
    }
    return { lines: [`${count} artifacts decoded`] };
  },
};

/**
 * Decrypts and decompresses every artifact, checking both SHA-256 of the manifest, and writes
 * nothing: a wrong passphrase or a damaged artifact fails here, before anything is stopped.
 */
export async function readThrough(
  repository: Repository,
  backup: BackupEntry,
  registry: ProviderRegistry,
  ctx: RunContext,
): Promise<void> {
  const stages = await decodeStagesFor(backup, registry);
  await runRestore({ repository, backup, source: discardingSource, stages, target: {} }, ctx);
}
