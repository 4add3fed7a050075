import type { Repository, RunContext } from '@nexus-backup/core';
import { baseBackupsFor } from './base-info.js';
import { listWalArchive, segmentOf } from './wal-archive.js';
import { segmentName } from './wal-names.js';

/**
 * After prune removed base backups: removes archived WAL older than the oldest remaining base backup's
 * start segment, per WAL pipeline, on every timeline. WAL from that segment on is never touched, nor
 * `.history` files (tiny, and needed to follow timelines), nor a pipeline with no base backup left.
 */
export async function pruneWalArchives(
  repository: Repository,
  ctx: RunContext,
  options: { dryRun: boolean },
): Promise<string[]> {
  const bases = await baseBackupsFor(repository, undefined, ctx);
  const lines: string[] = [];
  for (const walPipeline of new Set(bases.map((base) => base.walPipeline))) {
    const kept = bases.filter((base) => base.walPipeline === walPipeline);
    const segmentBytes = kept[0]?.segmentBytes as number;
    const oldestStart = Math.min(...kept.map((base) => base.startSegment));
    const listing = await listWalArchive(repository, walPipeline, ctx);
    const removable = listing.files.filter((file) => {
      const number = segmentOf(file, segmentBytes);
      return file.kind !== 'history' && number !== undefined && number < oldestStart;
    });
    if (removable.length === 0) continue;
    if (!options.dryRun) {
      // Markers first: a delete cut short leaves unreferenced bytes, never a marker pointing at nothing.
      await repository.deleteKeys(
        removable.map((file) => file.keys.at(-1) as string),
        ctx,
      );
      await repository.deleteKeys(
        removable.flatMap((file) => file.keys.slice(0, -1)),
        ctx,
      );
    }
    const limit = segmentName(kept[0]?.timeline ?? 1, oldestStart, segmentBytes);
    lines.push(
      `WAL ${walPipeline}: ${options.dryRun ? 'would remove' : 'removed'} ${removable.length} file(s) older than ${limit}, the start of the oldest kept base backup`,
    );
  }
  return lines;
}
