import { NexusError } from '@nexus-backup/core';

/** A statement (up to and including its `;`) or a psql meta-command line, as the lexer cut it out. */
export interface LexedPiece {
  kind: 'statement' | 'meta';
  /** The statement text without leading comments, or the meta-command line without its newline. */
  text: string;
  /** 1-based line of the piece's first byte. */
  line: number;
}

// Lexer states. Two-byte tokens (`--`, `/*`, `''`, `*/`) get their own "saw the first byte" state, so a
// token split across two chunks needs no look-ahead.
const NORMAL = 0;
const DASH = 1; // saw `-`: a line comment or an operator
const SLASH = 2; // saw `/`: a block comment or an operator
const LINE_COMMENT = 3;
const BLOCK_COMMENT = 4;
const BLOCK_STAR = 5; // saw `*` inside a block comment
const BLOCK_SLASH = 6; // saw `/` inside a block comment (nesting)
const QUOTE = 7; // '...' or E'...'
const QUOTE_BACKSLASH = 8; // saw `\` inside E'...'
const QUOTE_END = 9; // saw `'`: the end, or the first half of `''`
const IDENT = 10; // "..."
const IDENT_END = 11; // saw `"`: the end, or the first half of `""`
const DOLLAR_OPEN = 12; // saw `$` where a dollar quote may start; collecting its tag
const DOLLAR_BODY = 13;
const META = 14; // a psql backslash command, up to the end of its line

const NL = 0x0a;
const SEMICOLON = 0x3b;
const SINGLE_QUOTE = 0x27;
const DOUBLE_QUOTE = 0x22;
const DOLLAR_SIGN = 0x24;
const MINUS = 0x2d;
const SLASH_BYTE = 0x2f;
const STAR = 0x2a;
const BACKSLASH = 0x5c;
const OPEN_PAREN = 0x28;
const CLOSE_PAREN = 0x29;

const ROUTINE_WORDS = new Set(['create', 'function', 'procedure', 'or', 'replace']);

/** Longest statement we hold in memory; a larger one means the input is not a dump we can read. */
export const MAX_STATEMENT_BYTES = 256 * 1024 * 1024;

function isLetter(b: number): boolean {
  return (b >= 0x61 && b <= 0x7a) || (b >= 0x41 && b <= 0x5a) || b === 0x5f || b >= 0x80;
}

function isDigit(b: number): boolean {
  return b >= 0x30 && b <= 0x39;
}

function isSpace(b: number): boolean {
  return b === 0x20 || b === NL || b === 0x09 || b === 0x0d || b === 0x0c || b === 0x0b;
}

/**
 * Splits PostgreSQL SQL text into statements the way psql does, one byte at a time so that chunk
 * boundaries can fall anywhere: quotes, E'' escapes, quoted identifiers, dollar quotes, nested comments,
 * parentheses (rule actions) and `BEGIN ATOMIC ... END` bodies (psql's own heuristic) keep their `;`.
 * Comments before a statement are dropped, as psql drops them. Counts lines for error messages.
 */
export class SqlLexer {
  /** Line of the next byte to scan; the COPY data scanner advances it too. */
  line = 1;
  /** `SET standard_conforming_strings = off` makes backslashes escape inside '' strings as well. */
  standardConformingStrings = true;

  private state = NORMAL;
  private parts: Buffer[] = [];
  private partBytes = 0;
  /** Index in the current chunk where the piece starts; -1 before its first significant byte. */
  private start = -1;
  private significant = false;
  private pieceLine = 0;
  private pendingIndex = -1; // where the `-` or `/` of DASH/SLASH sits in this chunk; -1: in an earlier one
  private pendingLine = 0;
  private blockDepth = 0;
  private quoteEscapes = false;
  private tag: number[] = [];
  private delimiter: number[] = [];
  private matched = 0;
  private parenDepth = 0;
  // Word tracking for E'' prefixes, `$` inside identifiers and psql's BEGIN ATOMIC heuristic.
  private wordLength = 0;
  private wordIsIdentifier = false;
  private word = '';
  private identifierCount = 0;
  private leadingIdentifiers = '';
  private beginDepth = 0;
  private finished: LexedPiece | undefined;

  /**
   * Scans `buf` from `from`. Returns the index just past a finished piece (read it with `take()`),
   * or -1 when the chunk ran out first; the unfinished part is kept for the next chunk.
   */
  scan(buf: Buffer, from: number): number {
    for (let i = from; i < buf.length; i++) {
      const b = buf[i]!;
      if (b === NL) this.line++;
      switch (this.state) {
        case NORMAL:
          if (this.normal(buf, b, i)) return i + 1;
          break;
        case DASH:
          if (b === MINUS) this.state = LINE_COMMENT;
          else {
            this.resolvePending(MINUS);
            if (this.normal(buf, b, i)) return i + 1;
          }
          break;
        case SLASH:
          if (b === STAR) {
            this.state = BLOCK_COMMENT;
            this.blockDepth = 1;
          } else {
            this.resolvePending(SLASH_BYTE);
            if (this.normal(buf, b, i)) return i + 1;
          }
          break;
        case LINE_COMMENT:
          if (b === NL) this.state = NORMAL;
          break;
        case BLOCK_COMMENT:
          if (b === STAR) this.state = BLOCK_STAR;
          else if (b === SLASH_BYTE) this.state = BLOCK_SLASH;
          break;
        case BLOCK_STAR:
          if (b === SLASH_BYTE) {
            this.blockDepth--;
            this.state = this.blockDepth === 0 ? NORMAL : BLOCK_COMMENT;
          } else if (b !== STAR) this.state = BLOCK_COMMENT;
          break;
        case BLOCK_SLASH:
          if (b === STAR) {
            this.blockDepth++;
            this.state = BLOCK_COMMENT;
          } else if (b !== SLASH_BYTE) this.state = BLOCK_COMMENT;
          break;
        case QUOTE:
          if (b === SINGLE_QUOTE) this.state = QUOTE_END;
          else if (b === BACKSLASH && this.quoteEscapes) this.state = QUOTE_BACKSLASH;
          break;
        case QUOTE_BACKSLASH:
          this.state = QUOTE;
          break;
        case QUOTE_END:
          if (b === SINGLE_QUOTE) this.state = QUOTE;
          else if (this.normal(buf, b, i)) return i + 1;
          break;
        case IDENT:
          if (b === DOUBLE_QUOTE) this.state = IDENT_END;
          break;
        case IDENT_END:
          if (b === DOUBLE_QUOTE) this.state = IDENT;
          else if (this.normal(buf, b, i)) return i + 1;
          break;
        case DOLLAR_OPEN:
          if (b === DOLLAR_SIGN) {
            this.delimiter = [DOLLAR_SIGN, ...this.tag, DOLLAR_SIGN];
            this.matched = 0;
            this.state = DOLLAR_BODY;
          } else if (isLetter(b) || (this.tag.length > 0 && isDigit(b))) {
            this.tag.push(b);
          } else {
            // `$1` or `$x+`: not a dollar quote after all, just text.
            this.wordLength = 0;
            if (this.normal(buf, b, i)) return i + 1;
          }
          break;
        case DOLLAR_BODY:
          // The delimiter holds `$` only at both ends, so a mismatch restarts at 1 on `$`, else at 0.
          if (b === this.delimiter[this.matched]) {
            this.matched++;
            if (this.matched === this.delimiter.length) {
              this.state = NORMAL;
              this.wordLength = 0;
            }
          } else this.matched = b === DOLLAR_SIGN ? 1 : 0;
          break;
        case META:
          if (b === NL) {
            this.finish(buf, i, 'meta');
            return i + 1;
          }
          break;
      }
    }
    this.keepTail(buf);
    return -1;
  }

  /** The piece finished by the last `scan` that returned an index. */
  take(): LexedPiece {
    const piece = this.finished;
    if (piece === undefined) throw new Error('SqlLexer.take() called without a finished piece');
    this.finished = undefined;
    return piece;
  }

  /** At the end of the input: what is left unfinished, for an error message, or undefined when nothing is. */
  unfinished(): string | undefined {
    switch (this.state) {
      case QUOTE:
      case QUOTE_BACKSLASH:
        return 'inside a quoted string';
      case IDENT:
        return 'inside a quoted identifier';
      case DOLLAR_BODY:
        return `inside a dollar-quoted string (${Buffer.from(this.delimiter).toString()})`;
      case BLOCK_COMMENT:
      case BLOCK_STAR:
      case BLOCK_SLASH:
        return 'inside a /* comment */';
      default:
        return this.significant ? 'inside a statement that has no terminating semicolon' : undefined;
    }
  }

  /** Line where the unfinished piece started, for the error message at the end of the input. */
  get unfinishedLine(): number {
    return this.significant ? this.pieceLine : this.line;
  }

  /** At the end of the input a meta-command may lack its newline; returns it as a finished piece. */
  finishAtEnd(): LexedPiece | undefined {
    if (this.state !== META) return undefined;
    this.finish(Buffer.alloc(0), 0, 'meta');
    return this.take();
  }

  /** Handles one byte outside quotes and comments; returns true when it ended a statement. */
  private normal(buf: Buffer, b: number, i: number): boolean {
    this.state = NORMAL;
    if (this.wordLength > 0) {
      if (isLetter(b) || isDigit(b) || b === DOLLAR_SIGN) {
        this.wordLength++;
        if (this.word.length < 10) this.word += String.fromCharCode(b | 0x20);
        return false;
      }
      this.endWord(b);
    }
    if (isSpace(b)) return false;
    switch (b) {
      case SEMICOLON:
        if (this.parenDepth > 0 || this.beginDepth > 0) break;
        if (!this.significant) {
          this.reset(); // an empty statement: psql sends nothing
          return false;
        }
        this.finish(buf, i + 1, 'statement');
        return true;
      case MINUS:
      case SLASH_BYTE:
        this.state = b === MINUS ? DASH : SLASH;
        this.pendingIndex = i;
        this.pendingLine = this.line;
        return false;
      case BACKSLASH:
        if (this.significant) {
          throw new NexusError(
            'INTEGRITY',
            `line ${this.line}: a psql backslash command inside a statement is not supported`,
            {
              provider: 'postgres',
              hint: 'restore this script with psql, or put each backslash command on its own line',
            },
          );
        }
        this.mark(i);
        this.state = META;
        return false;
      case SINGLE_QUOTE:
        this.mark(i);
        this.state = QUOTE;
        this.quoteEscapes = this.eStringPrefix || !this.standardConformingStrings;
        this.eStringPrefix = false;
        return false;
      case DOUBLE_QUOTE:
        this.state = IDENT;
        break;
      case DOLLAR_SIGN:
        this.state = DOLLAR_OPEN;
        this.tag = [];
        break;
      case OPEN_PAREN:
        this.parenDepth++;
        break;
      case CLOSE_PAREN:
        if (this.parenDepth > 0) this.parenDepth--;
        break;
      default:
        if (isLetter(b) || isDigit(b)) {
          this.wordLength = 1;
          this.wordIsIdentifier = !isDigit(b);
          this.word = String.fromCharCode(b | 0x20);
        }
    }
    this.eStringPrefix = false;
    this.mark(i);
    return false;
  }

  private eStringPrefix = false;

  /** Called when a word ends at byte `next`; mirrors psql's identifier bookkeeping. */
  private endWord(next: number): void {
    const word = this.word;
    this.wordLength = 0;
    if (!this.wordIsIdentifier) return;
    if (word === 'e' && next === SINGLE_QUOTE) {
      this.eStringPrefix = true; // E'...': a string prefix, not an identifier
      return;
    }
    // psql: a statement starting CREATE [OR REPLACE] FUNCTION|PROCEDURE tracks BEGIN/CASE ... END so that
    // the semicolons of a `BEGIN ATOMIC` body do not end it.
    if (this.identifierCount < 4) {
      this.leadingIdentifiers += ROUTINE_WORDS.has(word) ? word[0] : ' ';
    }
    this.identifierCount++;
    const lead = this.leadingIdentifiers;
    const createsRoutine =
      lead[0] === 'c' &&
      (lead[1] === 'f' ||
        lead[1] === 'p' ||
        (lead[1] === 'o' && lead[2] === 'r' && (lead[3] === 'f' || lead[3] === 'p')));
    if (!createsRoutine || this.parenDepth !== 0) return;
    if (word === 'begin') this.beginDepth++;
    else if (word === 'case' && this.beginDepth >= 1) this.beginDepth++;
    else if (word === 'end' && this.beginDepth > 0) this.beginDepth--;
  }

  /** The first significant byte starts the piece. */
  private mark(i: number): void {
    if (this.significant) return;
    this.significant = true;
    this.start = i;
    this.pieceLine = this.line;
  }

  /** A `-` or `/` that did not start a comment is the statement's own text. */
  private resolvePending(byte: number): void {
    if (this.significant) return;
    this.significant = true;
    this.pieceLine = this.pendingLine;
    if (this.pendingIndex >= 0) this.start = this.pendingIndex;
    else {
      // The byte sat at the end of an earlier chunk.
      this.parts.push(Buffer.from([byte]));
      this.partBytes++;
      this.start = 0;
    }
  }

  private keepTail(buf: Buffer): void {
    if (this.significant && this.start >= 0 && this.start < buf.length) {
      this.parts.push(buf.subarray(this.start));
      this.partBytes += buf.length - this.start;
      if (this.partBytes > MAX_STATEMENT_BYTES) {
        throw new NexusError(
          'INTEGRITY',
          `line ${this.pieceLine}: a statement longer than ${MAX_STATEMENT_BYTES} bytes; the input is not a SQL dump we can read`,
          { provider: 'postgres', hint: 'check that the artifact is a plain SQL dump' },
        );
      }
    }
    if (this.significant) this.start = 0;
    this.pendingIndex = -1;
  }

  private finish(buf: Buffer, end: number, kind: LexedPiece['kind']): void {
    let text: string;
    if (this.parts.length === 0) text = buf.toString('utf8', this.start, end);
    else {
      this.parts.push(buf.subarray(0, end));
      text = Buffer.concat(this.parts).toString('utf8');
    }
    if (kind === 'meta') text = text.replace(/\r$/, '');
    this.finished = { kind, text, line: this.pieceLine };
    this.reset();
  }

  private reset(): void {
    this.state = NORMAL;
    this.parts = [];
    this.partBytes = 0;
    this.start = -1;
    this.significant = false;
    this.parenDepth = 0;
    this.wordLength = 0;
    this.identifierCount = 0;
    this.leadingIdentifiers = '';
    this.beginDepth = 0;
    this.eStringPrefix = false;
  }
}
