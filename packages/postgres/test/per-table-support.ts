import { Readable } from 'node:stream';
import type { Json, RestoreArtifact } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { createSource } from './dump-support.js';

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
  return splitForNow(held);
}

/** A restore's view of held artifacts: a fresh stream for each, opened when the restore asks for it. */
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
        stream: streamOf(artifact),
      };
    }
  })();
}

// TEMPORARY until the tables branch lands: splits a single database.sql like the per-table layout.
function splitForNow(held: HeldArtifact[]): HeldArtifact[] {
  const single = held.find((artifact) => artifact.name === 'database.sql');
  if (!single) return held;
  const text = single.bytes.toString('utf8');
  const headerEnd = text.indexOf('\n\n\n') + 3;
  const header = text.slice(0, headerEnd);
  const blocks = text.slice(headerEnd).split(/(?=^-- (?:DATA|LARGE OBJECT): )/m);
  const pre: string[] = [];
  const data: string[] = [];
  const post: string[] = [];
  for (const block of blocks) {
    const isData = /^-- (?:DATA|LARGE OBJECT): /.test(block);
    if (!isData && data.length === 0) {
      pre.push(block);
      continue;
    }
    if (isData) {
      const end = block.indexOf('\\.\n\n');
      const cut = end >= 0 ? end + 4 : block.indexOf('\n\n') + 2;
      data.push(block.slice(0, cut));
      post.push(block.slice(cut));
    } else post.push(block);
  }
  const artifact = (name: string, body: string, meta: { [key: string]: Json }): HeldArtifact => ({
    name,
    meta,
    bytes: Buffer.from(header + body),
  });
  return [
    artifact('pre-data.sql', pre.join(''), { ...single.meta, part: 'pre-data', layout: 'per-table' }),
    ...data.map((body, i) => artifact(`data-${String(i + 1).padStart(4, '0')}.sql`, body, { part: 'data' })),
    artifact('post-data.sql', post.join(''), { part: 'post-data' }),
  ];
}
