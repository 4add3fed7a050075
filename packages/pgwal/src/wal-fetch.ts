import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  defaultOptions,
  NexusError,
  type Repository,
  type RunContext,
  type TransformDefinition,
  VerifyingStream,
} from '@nexus-backup/core';
import { requireWalFileName } from './wal-names.js';
import { readMarker, type WalMarker, walObjectKey } from './wal-object.js';

export interface WalFetchInput {
  /** `%f`: the WAL file name PostgreSQL asks for. */
  name: string;
  /** `%p`: where PostgreSQL wants it (relative to its data directory). */
  target: string;
  pipeline: string;
  repository: Repository;
  loadTransform(name: string): Promise<TransformDefinition>;
}

/**
 * `restore_command`: writes the verified, decoded WAL file at the target path, or nothing. Returns
 * false when the repository does not hold the file (how recovery learns the archive ends). Bytes go to
 * a temp file next to the target and are renamed into place only after both SHA-256 digests matched,
 * so a damaged or truncated stored object never reaches PostgreSQL, whatever the transforms are.
 */
export async function fetchWalFile(input: WalFetchInput, ctx: RunContext): Promise<WalMarker | undefined> {
  requireWalFileName(input.name);
  const marker = await readMarker(input.repository, input.pipeline, input.name, ctx);
  if (!marker) return undefined;
  const decoders: Duplex[] = [];
  for (const transform of [...marker.transforms].reverse()) {
    const definition = await input.loadTransform(transform.provider);
    const instance = await definition.create(defaultOptions(definition.options));
    decoders.push(await instance.decode(ctx, transform.params));
  }
  const stored = await input.repository.destination.get(walObjectKey(input.pipeline, marker.file), ctx);
  const temp = join(
    dirname(input.target),
    `.${basename(input.target)}.nexus-${randomBytes(4).toString('hex')}`,
  );
  try {
    await pipeline(
      [
        stored,
        new VerifyingStream(marker.stored, `stored ${marker.file}`),
        ...decoders,
        new VerifyingStream(marker.raw, `decoded ${marker.name}`),
        createWriteStream(temp, { mode: 0o600, flags: 'wx' }),
      ],
      { signal: ctx.signal },
    );
    const handle = await open(temp, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, input.target);
  } catch (error) {
    await rm(temp, { force: true });
    if (error instanceof NexusError) throw error;
    throw new NexusError(
      'INTEGRITY',
      `could not restore ${marker.name} from ${input.repository.label}: ${(error as Error).message}`,
      {
        provider: 'pgwal',
        cause: error,
        hint: 'the archived file is damaged or unreadable, or the passphrase is wrong; nothing was written, so recovery stops before it',
      },
    );
  }
  return marker;
}
