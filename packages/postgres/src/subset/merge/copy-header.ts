/** The table and columns of a `COPY schema.table (a, "B c") FROM stdin;` line, identifiers unquoted. */
export interface CopyHeader {
  schema: string | undefined;
  table: string;
  columns: string[] | undefined;
}

/**
 * Reads the header of a COPY block as our dump and pg_dump write it. Unquoted names fold to lower case
 * as PostgreSQL folds them; quoted ones keep their case and `""`.
 */
export function parseCopyHeader(sql: string): CopyHeader | undefined {
  const reader = new IdentifierReader(sql.replace(/^\s*COPY\s+/i, ''));
  const first = reader.identifier();
  if (first === undefined) return undefined;
  let schema: string | undefined;
  let table = first;
  if (reader.take('.')) {
    const second = reader.identifier();
    if (second === undefined) return undefined;
    schema = first;
    table = second;
  }
  let columns: string[] | undefined;
  if (reader.take('(')) {
    columns = [];
    for (;;) {
      const column = reader.identifier();
      if (column === undefined) return undefined;
      columns.push(column);
      if (reader.take(')')) break;
      if (!reader.take(',')) return undefined;
    }
  }
  return /^\s*FROM\s+STDIN\b/i.test(reader.rest()) ? { schema, table, columns } : undefined;
}

class IdentifierReader {
  private at = 0;
  constructor(private readonly text: string) {}

  private skipSpace(): void {
    while (this.at < this.text.length && /\s/.test(this.text[this.at] as string)) this.at++;
  }

  take(token: string): boolean {
    this.skipSpace();
    if (!this.text.startsWith(token, this.at)) return false;
    this.at += token.length;
    return true;
  }

  identifier(): string | undefined {
    this.skipSpace();
    if (this.text[this.at] === '"') {
      let value = '';
      for (let i = this.at + 1; i < this.text.length; i++) {
        if (this.text[i] !== '"') value += this.text[i];
        else if (this.text[i + 1] === '"') {
          value += '"';
          i++;
        } else {
          this.at = i + 1;
          return value;
        }
      }
      return undefined;
    }
    const match = /^[A-Za-z_\u0080-\uffff][A-Za-z0-9_$\u0080-\uffff]*/.exec(this.text.slice(this.at));
    if (!match) return undefined;
    this.at += match[0].length;
    return match[0].toLowerCase();
  }

  rest(): string {
    return this.text.slice(this.at);
  }
}
