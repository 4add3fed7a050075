import { NexusError } from '@nexus-backup/core';

/**
 * PostgreSQL's WAL file names: a segment `TTTTTTTTXXXXXXXXYYYYYYYY` (timeline, log, segment within the
 * log), `<segment>.partial` (the last segment of a timeline before a promotion), `<segment>.XXXXXXXX.backup`
 * (a base backup's label) and `TTTTTTTT.history` (the parent timelines of a timeline).
 */
export type WalFileKind = 'segment' | 'partial' | 'backup' | 'history';

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  timeline: number;
  /** `log * segmentsPerLog + seg`: orders segments along the WAL; absent for history files. */
  segment?: { log: number; seg: number };
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

export const DEFAULT_SEGMENT_BYTES = 16 * 1024 * 1024;

export function parseWalFileName(name: string): WalFileName | undefined {
  const history = HISTORY.exec(name);
  if (history) return { name, kind: 'history', timeline: Number.parseInt(history[1] as string, 16) };
  for (const [kind, pattern] of [
    ['segment', SEGMENT],
    ['partial', PARTIAL],
    ['backup', BACKUP],
  ] as const) {
    const match = pattern.exec(name);
    if (match) {
      return {
        name,
        kind,
        timeline: Number.parseInt(match[1] as string, 16),
        segment: {
          log: Number.parseInt(match[2] as string, 16),
          seg: Number.parseInt(match[3] as string, 16),
        },
      };
    }
  }
  return undefined;
}

export function requireWalFileName(name: string): WalFileName {
  const parsed = parseWalFileName(name);
  if (!parsed) {
    throw new NexusError('USAGE', `"${name}" is not a WAL file name`, {
      provider: 'pgwal',
      hint: 'archive_command passes %p (the path of a file under pg_wal); restore_command passes %f and %p',
    });
  }
  return parsed;
}

/** How many segments one 4 GiB "log" holds for a segment size. */
export function segmentsPerLog(segmentBytes: number): number {
  return 0x100000000 / segmentBytes;
}

/** A segment's position along the WAL, comparable across logs. */
export function segmentNumber(segment: { log: number; seg: number }, segmentBytes: number): number {
  return segment.log * segmentsPerLog(segmentBytes) + segment.seg;
}

export function segmentName(timeline: number, number: number, segmentBytes: number): string {
  const perLog = segmentsPerLog(segmentBytes);
  const hex = (value: number) => value.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(Math.floor(number / perLog))}${hex(number % perLog)}`;
}

/** The segment number holding an LSN such as `0/3000028`. */
export function lsnSegment(lsn: string, segmentBytes: number): number {
  const [high, low] = lsn.split('/') as [string, string];
  const position = BigInt(`0x${high}`) * 0x100000000n + BigInt(`0x${low}`);
  return Number(position / BigInt(segmentBytes));
}
