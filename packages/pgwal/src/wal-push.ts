import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import type { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  type Digest,
  FanOut,
  HashingStream,
  type Json,
  NexusError,
  type PlannedTransform,
  type Repository,
  type RunContext,
} from '@nexus-backup/core';
import { requireWalFileName } from './wal-names.js';
import { newMarker, readMarker, walObjectKey, writeMarker } from './wal-object.js';

export interface WalPushInput {
  /** `%p`: the WAL file's path (relative to the data directory when PostgreSQL runs the command). */
  path: string;
  pipeline: string;
  repositories: Repository[];
  transforms: PlannedTransform[];
}

export interface WalPushOutcome {
  repository: string;
  action: 'stored' | 'already archived';
}

/**
 * `archive_command`: stores one WAL file in every repository, durable (the destinations' atomic put:
 * fsync + rename, or a completed upload) before it returns. A file already archived with the same
 * bytes is a success, since PostgreSQL retries after a crash; different bytes under the same name are
 * refused and never overwritten (what WAL-G calls WALG_PREVENT_WAL_OVERWRITE).
 */
export async function pushWalFile(input: WalPushInput, ctx: RunContext): Promise<WalPushOutcome[]> {
  const name = basename(input.path);
  requireWalFileName(name);
  const local = await digestOf(input.path, ctx);
  const outcomes: WalPushOutcome[] = [];
  const missing: Repository[] = [];
  for (const repository of input.repositories) {
    const marker = await readMarker(repository, input.pipeline, name, ctx);
    if (!marker) {
      missing.push(repository);
      continue;
    }
    if (marker.raw.sha256 !== local.sha256 || marker.raw.bytes !== local.bytes) {
      throw new NexusError(
        'INTEGRITY',
        `${name} is already archived in ${repository.label} (${input.pipeline}) with different content; refusing to overwrite it`,
        {
          provider: 'pgwal',
          hint: 'two servers may be archiving into one WAL pipeline: give each server its own --pipeline',
        },
      );
    }
    outcomes.push({ repository: repository.label, action: 'already archived' });
  }
  if (missing.length === 0) return outcomes;

  const file = `${name}${input.transforms.map((stage) => stage.definition.extension).join('')}`;
  const digests = await storeOnce(input, file, missing, ctx);
  if (digests.raw.sha256 !== local.sha256) {
    throw new NexusError('IO', `${input.path} changed while it was archived`, { provider: 'pgwal' });
  }
  const marker = newMarker(
    name,
    file,
    input.transforms.map((stage) => ({
      provider: stage.definition.name,
      version: stage.version,
      extension: stage.definition.extension,
      params: stage.transform.params() as { [key: string]: Json },
    })),
    digests,
  );
  // The marker goes last: it is what makes the file exist for `wal fetch`.
  for (const repository of missing) {
    await writeMarker(repository, input.pipeline, marker, ctx);
    outcomes.push({ repository: repository.label, action: 'stored' });
  }
  return outcomes;
}

/** Encodes the file once and streams it to every repository at once. */
async function storeOnce(
  input: WalPushInput,
  file: string,
  repositories: Repository[],
  ctx: RunContext,
): Promise<{ raw: Digest; stored: Digest }> {
  const raw = new HashingStream();
  const stored = new HashingStream();
  const encoders = await Promise.all(input.transforms.map((stage) => stage.transform.encode(ctx)));
  const fanOut = new FanOut(repositories.length);
  const puts = repositories.map((repository, index) =>
    repository.destination.put(
      walObjectKey(input.pipeline, file),
      fanOut.branches[index] as PassThrough,
      ctx,
    ),
  );
  const flow = pipeline([createReadStream(input.path), raw, ...encoders, stored, fanOut], {
    signal: ctx.signal,
  });
  const results = await Promise.allSettled([flow, ...puts]);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed?.status === 'rejected') {
    throw new NexusError('IO', `could not archive ${file}: ${(failed.reason as Error).message}`, {
      provider: 'pgwal',
      cause: failed.reason,
    });
  }
  return { raw: raw.digest(), stored: stored.digest() };
}

async function digestOf(path: string, ctx: RunContext): Promise<Digest> {
  const hashing = new HashingStream();
  try {
    await pipeline(
      createReadStream(path),
      hashing,
      async (source) => {
        for await (const _ of source) {
          // only the digest is wanted
        }
      },
      { signal: ctx.signal },
    );
  } catch (error) {
    throw new NexusError('NOT_FOUND', `cannot read the WAL file ${path}: ${(error as Error).message}`, {
      provider: 'pgwal',
      cause: error,
      hint: 'archive_command must pass %p, the path PostgreSQL gives relative to its data directory',
    });
  }
  return hashing.digest();
}
