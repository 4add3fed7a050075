import { Readable } from 'node:stream';
import type { Json, RestoreArtifact } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { POSTGRES_MAJORS, type PostgresMajor } from '@nexus-backup/testkit/postgres';
import { createSource } from './dump-support.js';

/**
 * The majors the per-table restore tests run on: the oldest and the newest (issue 16 asks for 13 and
 * 18); NEXUS_TEST_PG_MAJORS=15 narrows it for a quick local run.
 */
export const EDGE_MAJORS = (process.env.NEXUS_TEST_PG_MAJORS?.split(',').map(Number) ?? [
  POSTGRES_MAJORS[0],
  POSTGRES_MAJORS.at(-1),
]) as PostgresMajor[];

/** One artifact of a backup, held in memory (test databases are small). */
export interface HeldArtifact {
  name: string;
  meta: { [key: string]: Json };
  bytes: Buffer;
}

/** The artifacts the postgres source's backup of `db` yields, in order. */
export async function backupArtifacts(db: string): Promise<HeldArtifact[]> {
  const source = await createSource({ db });
  const held: HeldArtifact[] = [];
  for await (const artifact of source.backup(createTestContext())) {
    const chunks: Buffer[] = [];
    for await (const chunk of artifact.stream) chunks.push(chunk as Buffer);
    held.push({ name: artifact.name, meta: artifact.meta ?? {}, bytes: Buffer.concat(chunks) });
  }
  return held;
}

/**
 * A restore's view of held artifacts: a fresh stream for each, made by `streamOf` when the restore first
 * reads it (as core's LazyReadable opens a repository read), so handing out the handle opens nothing.
 */
export function restoreArtifacts(
  held: HeldArtifact[],
  streamOf: (artifact: HeldArtifact) => Readable = (artifact) => Readable.from([artifact.bytes]),
): AsyncIterator<RestoreArtifact> {
  return (async function* () {
    for (const artifact of held) {
      yield {
        name: artifact.name,
        meta: artifact.meta,
        rawBytes: artifact.bytes.length,
        stream: lazily(() => streamOf(artifact)),
      };
    }
  })();
}

function lazily(open: () => Readable): Readable {
  let inner: Readable | undefined;
  const outer: Readable = new Readable({
    read() {
      if (inner !== undefined) {
        inner.resume();
        return;
      }
      inner = open();
      inner.on('data', (chunk: Buffer) => {
        if (!outer.push(chunk)) inner?.pause();
      });
      inner.once('end', () => outer.push(null));
      inner.once('error', (error) => outer.destroy(error));
    },
    destroy(error, callback) {
      inner?.destroy();
      callback(error);
    },
  });
  return outer;
}
