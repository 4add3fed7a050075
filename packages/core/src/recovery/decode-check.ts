import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RunContext, Source } from '../contracts.js';
import type { ProviderRegistry } from '../registry.js';
import type { BackupEntry, Repository } from '../repository.js';
import { loadDecodeStages, runRestore } from '../restore.js';

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
  const stages = await loadDecodeStages(registry, backup.manifest.transforms);
  await runRestore({ repository, backup, source: discardingSource, stages, target: {} }, ctx);
}
