import type { Repository, RunContext } from '@nexus-backup/core';
import { baseBackupsFor } from './base-info.js';
import { listWalArchive, segmentOf } from './wal-archive.js';
import { DEFAULT_SEGMENT_BYTES, segmentName } from './wal-names.js';

export interface TimelineContinuity {
  timeline: number;
  first: string;
  last: string;
  /** Missing segments as ranges `FIRST..LAST` (or one name). */
  gaps: string[];
}

export interface ContinuityReport {
  pipeline: string;
  timelines: TimelineContinuity[];
  incomplete: string[];
  ok: boolean;
}

/**
 * Archive continuity per timeline: every segment from the oldest base backup's start on that timeline
 * (or the oldest archived segment when none starts there) to the newest archived one, up to each base
 * backup's stop segment, must be present. Recovery cannot pass a gap; older segments are not needed.
 */
export async function checkContinuity(
  repository: Repository,
  pipeline: string,
  ctx: RunContext,
): Promise<ContinuityReport> {
  const bases = await baseBackupsFor(repository, pipeline, ctx);
  const segmentBytes = bases[0]?.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  const listing = await listWalArchive(repository, pipeline, ctx);
  const present = new Map<number, Set<number>>();
  for (const file of listing.files) {
    if (file.kind !== 'segment' && file.kind !== 'partial') continue;
    const number = segmentOf(file, segmentBytes) as number;
    present.set(file.timeline, (present.get(file.timeline) ?? new Set()).add(number));
  }
  const timelines = new Set([...present.keys(), ...bases.map((base) => base.timeline)]);
  const report: ContinuityReport = { pipeline, timelines: [], incomplete: listing.incomplete, ok: true };
  for (const timeline of [...timelines].sort((a, b) => a - b)) {
    const numbers = present.get(timeline) ?? new Set<number>();
    const onTimeline = bases.filter((base) => base.timeline === timeline);
    // From the oldest base backup's start: WAL before it (a late push prune keeps for a while) is never replayed.
    const starts = onTimeline.length > 0 ? onTimeline.map((base) => base.startSegment) : [...numbers];
    const ends = [...onTimeline.map((base) => base.stopSegment), ...numbers];
    const first = Math.min(...starts);
    const last = Math.max(...ends);
    const gaps: string[] = [];
    let gapStart: number | undefined;
    for (let number = first; number <= last + 1; number += 1) {
      const missing = number <= last && !numbers.has(number);
      if (missing && gapStart === undefined) gapStart = number;
      if (!missing && gapStart !== undefined) {
        const from = segmentName(timeline, gapStart, segmentBytes);
        const to = segmentName(timeline, number - 1, segmentBytes);
        gaps.push(from === to ? from : `${from}..${to}`);
        gapStart = undefined;
      }
    }
    if (gaps.length > 0) report.ok = false;
    report.timelines.push({
      timeline,
      first: segmentName(timeline, first, segmentBytes),
      last: segmentName(timeline, last, segmentBytes),
      gaps,
    });
  }
  return report;
}
