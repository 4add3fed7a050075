const NL = 0x0a;
const CR = 0x0d;
const BACKSLASH = 0x5c;
const DOT = 0x2e;

export interface CopyScan {
  /** Data of this chunk ends here (exclusive); the caller forwards `buf[from, dataEnd)` as it is. */
  dataEnd: number;
  /** Index just past the `\.` line when the block ended in this chunk; -1 when it goes on. */
  resume: number;
}

/**
 * Finds the end of the data of a `COPY ... FROM stdin` block in text format: a line holding only `\.`.
 * Data never contains such a line (COPY escapes a backslash as `\\`), so the scanner only looks at lines
 * starting with a backslash and jumps from newline to newline with `indexOf`; the data itself is never
 * decoded or copied. Counts rows (one per line).
 */
export class CopyDataScanner {
  /** Data lines seen so far: one per row. */
  rows = 0;
  private atLineStart = true;

  /**
   * Scans `buf` from `from`. When a line start near the end of `buf` could still become `\.`, `dataEnd`
   * stops before it and the caller must prepend `buf[dataEnd..]` to the next chunk.
   */
  scan(buf: Buffer, from: number): CopyScan {
    let i = from;
    while (i < buf.length) {
      if (!this.atLineStart) {
        const newline = buf.indexOf(NL, i);
        if (newline < 0) return { dataEnd: buf.length, resume: -1 };
        this.rows++;
        i = newline + 1;
        this.atLineStart = true;
        continue;
      }
      this.atLineStart = false;
      if (buf[i] !== BACKSLASH) continue;
      const left = buf.length - i;
      if (left < 2) return this.holdBack(i);
      if (buf[i + 1] !== DOT) continue;
      if (left < 3) return this.holdBack(i);
      const after = buf[i + 2];
      if (after === NL) return { dataEnd: i, resume: i + 3 };
      if (after === CR) {
        if (left < 4) return this.holdBack(i);
        if (buf[i + 3] === NL) return { dataEnd: i, resume: i + 4 };
      }
    }
    return { dataEnd: buf.length, resume: -1 };
  }

  /** At the end of the input: whether the held-back bytes are the end marker lacking its newline. */
  static isEndMarker(held: Buffer): boolean {
    const text = held.toString('latin1');
    return text === '\\.' || text === '\\.\r';
  }

  private holdBack(i: number): CopyScan {
    this.atLineStart = true;
    return { dataEnd: i, resume: -1 };
  }
}
