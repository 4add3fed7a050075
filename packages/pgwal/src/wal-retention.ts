import type { Repository, RunContext } from '@nexus-backup/core';
import { baseBackupsFor } from './base-info.js';
import { listWalArchive, segmentOf } from './wal-archive.js';
import { segmentName } from './wal-names.js';

/**
 * A WAL file numbered below the oldest kept base backup's start but archived after that backup ended
 * is kept this long: see `pruneWalArchives`.
 */
export const LATE_WAL_GRACE_MS = 60 * 60_000;

/**
 * After prune removed base backups: removes archived WAL older than the oldest remaining base backup's
 * start segment, per WAL pipeline, on every timeline. WAL from that segment on is never touched, nor
 * `.history` files (tiny, and needed to follow timelines), nor a pipeline with no base backup left.
 *
 * Why `wal push` takes no lease (measured: a lease costs ~25 ms per push on a local disk, two more
 * requests per segment on S3, and prune would still have to read them): a push in flight has written
 * no marker yet, so this listing sees it as incomplete and never deletes it; and a kept base backup is
 * complete only after PostgreSQL archived every segment up to its stop, so what the server pushes
 * afterwards is numbered after every kept start and never removable. The one exception is a late
 * push of an old segment (a retry after a crash, a spool drained late, a copy promoted at an old
 * point): a file below the start whose marker is newer than the base backup's end is kept for
 * LATE_WAL_GRACE_MS, so prune never races a push that is just completing.
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
    const oldest = kept.reduce((a, b) => (b.startSegment < a.startSegment ? b : a));
    const oldestStart = oldest.startSegment;
    const settled = Math.max(Date.parse(oldest.stopTime) || 0, Date.now() - LATE_WAL_GRACE_MS);
    const listing = await listWalArchive(repository, walPipeline, ctx);
    const removable = listing.files.filter((file) => {
      const number = segmentOf(file, segmentBytes);
      return (
        file.kind !== 'history' &&
        number !== undefined &&
        number < oldestStart &&
        file.modified.getTime() <= settled
      );
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
