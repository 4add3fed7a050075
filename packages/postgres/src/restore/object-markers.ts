import { NexusError } from '@nexus-backup/core';
import { SqlLexer } from './sql-lexer.js';

/** One `-- nexus-object: {...}` line of a per-table backup's pre-data or post-data artifact. */
export interface ObjectMarker {
  kind: string;
  /** Display name, e.g. `public.api_requests` or `public.api_requests.api_requests_pkey`. */
  name: string;
  /** The table the object belongs to (`schema.table`); absent for objects of no table. */
  table?: string;
}

/** One statement of a schema artifact, with the text before it (labels, markers) as written. */
export interface ScriptPiece {
  /** The comments and blank lines before the statement, then the statement: what a filtered script keeps. */
  raw: string;
  /** The statement alone, comments before it dropped. */
  sql: string;
  /** The marker of the object this statement belongs to; undefined for the session header. */
  marker: ObjectMarker | undefined;
  /** True for the first statement of its object (the one whose `raw` holds the marker line). */
  first: boolean;
}

const MARKER = /^-- nexus-object: (.*)$/gm;

/**
 * Splits a schema artifact (pre-data or post-data SQL of a per-table backup) into statements, each
 * attributed to the object whose marker came last before it. Markers are only read from the text
 * between statements (the lexer knows where those are), so a marker-like line inside a function
 * body or a string is never taken for one. Returns the pieces and the text after the last statement.
 */
export function splitSchemaArtifact(
  text: Buffer,
  artifact: string,
): { pieces: ScriptPiece[]; trailer: string } {
  const lexer = new SqlLexer();
  const pieces: ScriptPiece[] = [];
  let marker: ObjectMarker | undefined;
  let pos = 0;
  for (;;) {
    const end = lexer.scan(text, pos);
    if (end < 0) break;
    const piece = lexer.take();
    const raw = text.toString('utf8', pos, end);
    pos = end;
    if (piece.kind === 'meta') {
      throw new NexusError(
        'INTEGRITY',
        `${artifact} line ${piece.line}: a psql command in a schema artifact of a per-table backup`,
        { provider: 'postgres' },
      );
    }
    const leading = raw.slice(0, raw.length - piece.text.length);
    const markers = [...leading.matchAll(MARKER)];
    const last = markers.at(-1);
    if (last !== undefined) marker = parseMarker(last[1] as string, artifact, piece.line);
    pieces.push({ raw, sql: piece.text, marker, first: last !== undefined });
  }
  const unfinished = lexer.unfinished();
  if (unfinished !== undefined) {
    throw new NexusError(
      'INTEGRITY',
      `${artifact} ends ${unfinished} (from line ${lexer.unfinishedLine}): the dump was cut short`,
      { provider: 'postgres', hint: 'restore from a complete backup' },
    );
  }
  return { pieces, trailer: text.toString('utf8', pos) };
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
      `${artifact}: the object marker before line ${line} is not readable: ${json.slice(0, 120)}`,
      { provider: 'postgres' },
    );
  }
  return { kind: marker.kind, name: marker.name, ...(marker.table ? { table: marker.table } : {}) };
}
