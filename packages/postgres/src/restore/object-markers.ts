import { NexusError } from '@nexus-backup/core';
import { readSqlScript, type SqlCopyEvent, type SqlStatementEvent } from './sql-script-reader.js';

/** One `-- nexus-object: {...}` line of a per-table backup's pre-data or post-data artifact. */
export interface ObjectMarker {
  kind: string;
  /** Display name, e.g. `public.api_requests` or `public.api_requests.api_requests_pkey`. */
  name: string;
  /** The table the object belongs to (`schema.table`); absent for objects of no table. */
  table?: string;
}

/** A statement or COPY block of a schema artifact, with the object it belongs to. */
export type MarkedEvent = (SqlStatementEvent | SqlCopyEvent) & {
  /** The marker of the object this belongs to; undefined for the session header. */
  marker: ObjectMarker | undefined;
  /** True for the first statement after a marker. */
  first: boolean;
};

const PREFIX = Buffer.from('-- nexus-object: ');
/** Longer lines are not markers (a marker is one object's kind and names). */
const MAX_MARKER_BYTES = 64 * 1024;

/**
 * Reads a pre-data or post-data artifact of a per-table backup as statements and COPY blocks (as the
 * restore's script reader does, streaming), each attributed to the object whose marker line came last
 * before it. A marker counts only between the end of one statement and the start of the next, so a
 * marker-like line inside a function body, a string or COPY data is never taken for one.
 */
export async function* readMarkedScript(
  input: AsyncIterable<Buffer | Uint8Array | string>,
  artifact: string,
): AsyncGenerator<MarkedEvent> {
  const tap = new MarkerTap();
  let marker: ObjectMarker | undefined;
  let previous: SqlStatementEvent | SqlCopyEvent | undefined;
  for await (const event of readSqlScript(tap.read(input))) {
    if (event.kind === 'meta') {
      throw new NexusError(
        'INTEGRITY',
        `${artifact} line ${event.line}: a psql command (\\${event.name}) in a per-table backup's artifact`,
        { provider: 'postgres' },
      );
    }
    const after = previous === undefined ? 0 : lastLineOf(previous);
    const found = tap.takeBefore(event.line, after);
    if (found !== undefined) marker = parseMarker(found.json, artifact, found.line);
    previous = event;
    yield Object.assign(event, { marker, first: found !== undefined });
  }
}

/** The last line an event occupies: a statement's last line, a COPY block's `\.` line. */
function lastLineOf(event: SqlStatementEvent | SqlCopyEvent): number {
  if (event.kind === 'copy') return event.dataLine + event.rows;
  let newlines = 0;
  for (let at = event.sql.indexOf('\n'); at >= 0; at = event.sql.indexOf('\n', at + 1)) newlines++;
  return event.line + newlines;
}

/** Notes the marker lines of the bytes passing through, with their line numbers (1-based, like the reader's). */
class MarkerTap {
  private readonly found: { line: number; json: string }[] = [];
  private line = 1;
  private parts: Buffer[] = [];
  private bytes = 0;
  private collecting = true;

  async *read(input: AsyncIterable<Buffer | Uint8Array | string>): AsyncGenerator<Buffer> {
    for await (const value of input) {
      const chunk =
        typeof value === 'string'
          ? Buffer.from(value)
          : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
      this.scan(chunk);
      yield chunk;
    }
  }

  /** The last marker on a line after `after` and before `line`; every marker before `line` is dropped. */
  takeBefore(line: number, after: number): { line: number; json: string } | undefined {
    let last: { line: number; json: string } | undefined;
    while (this.found.length > 0 && (this.found[0] as { line: number }).line < line) {
      const next = this.found.shift() as { line: number; json: string };
      if (next.line > after) last = next;
    }
    return last;
  }

  private scan(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length) {
      const newline = chunk.indexOf(0x0a, pos);
      const end = newline < 0 ? chunk.length : newline;
      if (this.collecting) this.collect(chunk.subarray(pos, end));
      if (newline < 0) return;
      if (this.collecting && this.bytes >= PREFIX.length) {
        const text = Buffer.concat(this.parts).toString('utf8').replace(/\r$/, '');
        this.found.push({ line: this.line, json: text.slice(PREFIX.length) });
      }
      this.line++;
      this.parts = [];
      this.bytes = 0;
      this.collecting = true;
      pos = newline + 1;
    }
  }

  /** Keeps the line's bytes while they can still be a marker. */
  private collect(segment: Buffer): void {
    if (segment.length === 0) return;
    const checked = Math.min(PREFIX.length - this.bytes, segment.length);
    if (
      checked > 0 &&
      !segment.subarray(0, checked).equals(PREFIX.subarray(this.bytes, this.bytes + checked))
    ) {
      this.collecting = false;
      this.parts = [];
      return;
    }
    this.bytes += segment.length;
    if (this.bytes > MAX_MARKER_BYTES) {
      this.collecting = false;
      this.parts = [];
      return;
    }
    this.parts.push(segment);
  }
}

function parseMarker(json: string, artifact: string, line: number): ObjectMarker {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    value = undefined;
  }
  const marker = value as Partial<ObjectMarker> | undefined;
  if (
    typeof marker?.kind !== 'string' ||
    typeof marker.name !== 'string' ||
    (marker.table !== undefined && typeof marker.table !== 'string')
  ) {
    throw new NexusError(
      'INTEGRITY',
      `${artifact} line ${line}: the object marker is not readable: ${json.slice(0, 120)}`,
      { provider: 'postgres' },
    );
  }
  return { kind: marker.kind, name: marker.name, ...(marker.table ? { table: marker.table } : {}) };
}
