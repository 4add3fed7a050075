import { NexusError } from '@nexus-backup/core';
import { CopyDataScanner } from './copy-data-scanner.js';
import { type LexedPiece, SqlLexer } from './sql-lexer.js';
import { copyFromStdinTable, settingChangedBy } from './statement-text.js';

export interface SqlStatementEvent {
  kind: 'statement';
  /** The statement with its `;`, comments before it dropped. */
  sql: string;
  /** 1-based line where the statement starts. */
  line: number;
}

export interface SqlCopyEvent {
  kind: 'copy';
  /** The `COPY ... FROM stdin;` statement. */
  sql: string;
  line: number;
  /** The table as the statement names it, e.g. `public.orders`. */
  table: string;
  /** Line of the first data row. */
  dataLine: number;
  /**
   * The raw data bytes up to (not including) the `\.` line, as slices of the input chunks. Consume it
   * fully before asking the reader for the next event; the reader drains it when nobody does.
   */
  data: AsyncGenerator<Buffer>;
  /** Rows read from `data` so far; the block's row count once `data` is consumed. */
  rows: number;
  /** True once the `\.` line was reached. */
  complete: boolean;
}

/** A psql backslash command other than `\restrict`/`\unrestrict`, which the reader checks itself. */
export interface SqlMetaCommandEvent {
  kind: 'meta';
  /** The command without its backslash, e.g. `connect`. */
  name: string;
  argument: string;
  line: number;
}

export type SqlScriptEvent = SqlStatementEvent | SqlCopyEvent | SqlMetaCommandEvent;

export interface SqlScriptReaderOptions {
  /** Called with the size of every input chunk, e.g. for progress. */
  onChunk?: (bytes: number) => void;
}

const NL = 0x0a;
const EMPTY = Buffer.alloc(0);

/**
 * Reads a plain SQL script (ours or `pg_dump`'s plain format) from a byte stream as statements, COPY
 * blocks whose data streams through untouched, and psql backslash commands. Memory is bounded by one
 * statement plus one input chunk, however large the COPY blocks are. A script that ends mid-statement,
 * mid-COPY or before its closing `\unrestrict` is rejected as cut short (code INTEGRITY).
 */
export function readSqlScript(
  input: AsyncIterable<Buffer | Uint8Array | string>,
  options: SqlScriptReaderOptions = {},
): AsyncGenerator<SqlScriptEvent> {
  return new SqlScriptReader(input[Symbol.asyncIterator](), options).events();
}

class SqlScriptReader {
  private chunk: Buffer = EMPTY;
  private pos = 0;
  private readonly lexer = new SqlLexer();
  private restrictKey: string | undefined;

  constructor(
    private readonly source: AsyncIterator<Buffer | Uint8Array | string>,
    private readonly options: SqlScriptReaderOptions,
  ) {}

  async *events(): AsyncGenerator<SqlScriptEvent> {
    try {
      for (;;) {
        if (this.pos >= this.chunk.length && !(await this.fill())) break;
        const end = this.lexer.scan(this.chunk, this.pos);
        if (end < 0) {
          this.pos = this.chunk.length;
          continue;
        }
        this.pos = end;
        const event = this.interpret(this.lexer.take());
        if (event === undefined) continue;
        yield event;
        if (event.kind === 'copy') await this.settle(event);
      }
      const last = this.lexer.finishAtEnd();
      if (last !== undefined) {
        const event = this.interpret(last);
        if (event !== undefined) yield event;
      }
      const unfinished = this.lexer.unfinished();
      if (unfinished !== undefined) {
        throw cutShort(`the script ends ${unfinished} (from line ${this.lexer.unfinishedLine})`);
      }
      if (this.restrictKey !== undefined) {
        throw cutShort(`the script ends before the \\unrestrict that closes its \\restrict`);
      }
    } finally {
      await this.source.return?.();
    }
  }

  private async fill(): Promise<boolean> {
    for (;;) {
      const next = await this.source.next();
      if (next.done) return false;
      const chunk = toBuffer(next.value);
      if (chunk.length === 0) continue;
      this.options.onChunk?.(chunk.length);
      this.chunk = chunk;
      this.pos = 0;
      return true;
    }
  }

  private interpret(piece: LexedPiece): SqlScriptEvent | undefined {
    if (piece.kind === 'meta') return this.metaCommand(piece);
    const table = copyFromStdinTable(piece.text);
    if (table !== undefined) {
      const event: SqlCopyEvent = {
        kind: 'copy',
        sql: piece.text,
        line: piece.line,
        table,
        dataLine: piece.line + 1,
        data: EMPTY_GENERATOR,
        rows: 0,
        complete: false,
      };
      event.data = this.copyData(event);
      return event;
    }
    this.followSetting(piece);
    return { kind: 'statement', sql: piece.text, line: piece.line };
  }

  /** Settings that change how the rest of the script must be read. */
  private followSetting(piece: LexedPiece): void {
    const setting = settingChangedBy(piece.text);
    if (setting === undefined) return;
    if (setting.name === 'standard_conforming_strings') {
      this.lexer.standardConformingStrings = !/^(off|false|no|0)$/i.test(setting.value);
    } else if (setting.name === 'client_encoding' && !/^utf-?8$/i.test(setting.value)) {
      throw new NexusError(
        'INTEGRITY',
        `line ${piece.line}: the script is in client encoding ${setting.value}; only UTF8 scripts can be restored`,
        {
          provider: 'postgres',
          hint: 'dump again with UTF8 (pg_dump --encoding=UTF8), or restore this script with psql',
        },
      );
    }
  }

  /** `\restrict KEY` ... `\unrestrict KEY` (pg_dump since 17.6/16.10/15.14) bracket the whole script. */
  private metaCommand(piece: LexedPiece): SqlMetaCommandEvent | undefined {
    const match = /^\\(\S*)\s*(.*)$/s.exec(piece.text);
    const name = match?.[1] ?? '';
    const argument = (match?.[2] ?? '').trim();
    if (name === 'restrict') {
      if (this.restrictKey !== undefined || argument === '')
        throw malformed(piece, 'a second or empty \\restrict');
      this.restrictKey = argument;
      return undefined;
    }
    if (name === 'unrestrict') {
      if (argument !== this.restrictKey)
        throw malformed(piece, 'an \\unrestrict whose key does not match \\restrict');
      this.restrictKey = undefined;
      return undefined;
    }
    return { kind: 'meta', name, argument, line: piece.line };
  }

  private async *copyData(event: SqlCopyEvent): AsyncGenerator<Buffer> {
    await this.skipRestOfCopyLine(event);
    event.dataLine = this.lexer.line;
    const scanner = new CopyDataScanner();
    let held: Buffer | undefined;
    for (;;) {
      if (this.pos >= this.chunk.length) {
        if (!(await this.fill())) {
          if (held !== undefined && CopyDataScanner.isEndMarker(held)) {
            this.finishCopy(event, scanner, 0);
            return;
          }
          throw cutShort(
            `the script ends inside the COPY data of ${event.table} (data from line ${event.dataLine}, ${scanner.rows} rows read)`,
          );
        }
        if (held !== undefined) {
          // Rare: a line starting with `\` sat at the end of the previous chunk.
          this.chunk = Buffer.concat([held, this.chunk]);
          held = undefined;
        }
      }
      const { dataEnd, resume } = scanner.scan(this.chunk, this.pos);
      const data = this.chunk.subarray(this.pos, dataEnd);
      event.rows = scanner.rows;
      if (resume >= 0) {
        this.pos = resume;
        this.finishCopy(event, scanner, 1);
        if (data.length > 0) yield data;
        return;
      }
      if (dataEnd < this.chunk.length) held = Buffer.from(this.chunk.subarray(dataEnd));
      this.pos = this.chunk.length;
      if (data.length > 0) yield data;
    }
  }

  private finishCopy(event: SqlCopyEvent, scanner: CopyDataScanner, markerNewlines: number): void {
    event.rows = scanner.rows;
    event.complete = true;
    this.lexer.line += scanner.rows + markerNewlines;
  }

  /** psql reads COPY data from the line after the statement; only blanks may follow the `;`. */
  private async skipRestOfCopyLine(event: SqlCopyEvent): Promise<void> {
    for (;;) {
      if (this.pos >= this.chunk.length && !(await this.fill())) {
        throw cutShort(
          `the script ends right after the COPY statement for ${event.table} on line ${event.line}`,
        );
      }
      const b = this.chunk[this.pos++]!;
      if (b === NL) {
        this.lexer.line++;
        return;
      }
      if (b !== 0x20 && b !== 0x09 && b !== 0x0d) {
        throw new NexusError(
          'INTEGRITY',
          `line ${event.line}: unexpected text after COPY ... FROM stdin; the data must start on the next line`,
          { provider: 'postgres' },
        );
      }
    }
  }

  /** Makes sure a COPY block's data was read to its end before the script goes on. */
  private async settle(event: SqlCopyEvent): Promise<void> {
    if (!event.complete) for await (const _ of event.data);
    if (!event.complete) {
      throw new NexusError('INTERNAL', `the COPY data of ${event.table} was abandoned before its end`, {
        provider: 'postgres',
      });
    }
  }
}

const EMPTY_GENERATOR: AsyncGenerator<Buffer> = (async function* () {})();

function toBuffer(value: Buffer | Uint8Array | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  if (Buffer.isBuffer(value)) return value;
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function cutShort(what: string): NexusError {
  return new NexusError('INTEGRITY', `${what}: the dump was cut short`, {
    provider: 'postgres',
    hint: 'restore from a complete backup; a truncated dump cannot be restored',
  });
}

function malformed(piece: LexedPiece, what: string): NexusError {
  return new NexusError('INTEGRITY', `line ${piece.line}: the script has ${what}`, { provider: 'postgres' });
}
