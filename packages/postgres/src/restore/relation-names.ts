/**
 * Reading relation names out of SQL text, for a restore of some tables (`--table`): which relations an
 * object's statements name, and the display form (`schema.name`, unquoted) that the dump's object
 * markers and artifact metadata use.
 */

/** `schema.name` as the dump's markers write it: identifiers unquoted, unquoted ones folded to lower case. */
export function displayName(qualified: string): string | undefined {
  const text = qualified.trim();
  const parts = identifierChain(text, 0);
  if (parts === undefined || parts.end !== text.length) return undefined;
  return parts.names.join('.');
}

/**
 * Every `schema.name` (the first two parts of a dotted chain, e.g. `public.t` of `public.t.col`) named
 * outside string literals, quoted identifiers kept exact and unquoted ones folded to lower case.
 * Routines' bodies are strings, so what they name is not seen (nor checked by the server on restore).
 */
export function qualifiedNamesIn(sql: string): Set<string> {
  const names = new Set<string>();
  let i = 0;
  while (i < sql.length) {
    const c = sql[i] as string;
    if (c === "'") i = skipQuoted(sql, i, "'", false);
    else if ((c === 'E' || c === 'e') && sql[i + 1] === "'" && !isWordChar(sql[i - 1]))
      i = skipQuoted(sql, i + 1, "'", true);
    else if (c === '-' && sql[i + 1] === '-') i = lineEnd(sql, i);
    else if (c === '/' && sql[i + 1] === '*') i = blockCommentEnd(sql, i);
    else if (c === '$' && !isWordChar(sql[i - 1])) i = skipDollarQuote(sql, i);
    else if (c === '"' || (isIdentifierStart(c) && !isWordChar(sql[i - 1]))) {
      const chain = identifierChain(sql, i);
      if (chain === undefined) i += 1;
      else {
        if (chain.names.length >= 2) names.add(`${chain.names[0]}.${chain.names[1]}`);
        i = chain.end;
      }
    } else i += 1;
  }
  return names;
}

/** `a.b."C"` from `start`: the unquoted names and the index just past the chain. */
function identifierChain(sql: string, start: number): { names: string[]; end: number } | undefined {
  const names: string[] = [];
  let i = start;
  for (;;) {
    while (sql[i] === ' ' || sql[i] === '\t' || sql[i] === '\n' || sql[i] === '\r') {
      if (names.length === 0) return undefined;
      i += 1;
    }
    const part = identifier(sql, i);
    if (part === undefined) return names.length === 0 ? undefined : { names, end: i };
    names.push(part.name);
    i = part.end;
    let j = i;
    while (sql[j] === ' ' || sql[j] === '\t' || sql[j] === '\n' || sql[j] === '\r') j += 1;
    if (sql[j] !== '.') return { names, end: i };
    i = j + 1;
  }
}

function identifier(sql: string, start: number): { name: string; end: number } | undefined {
  if (sql[start] === '"') {
    let name = '';
    let i = start + 1;
    while (i < sql.length) {
      if (sql[i] === '"') {
        if (sql[i + 1] === '"') {
          name += '"';
          i += 2;
          continue;
        }
        return { name, end: i + 1 };
      }
      name += sql[i];
      i += 1;
    }
    return undefined;
  }
  if (!isIdentifierStart(sql[start])) return undefined;
  let i = start + 1;
  while (isWordChar(sql[i])) i += 1;
  return { name: sql.slice(start, i).toLowerCase(), end: i };
}

function isIdentifierStart(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z_\u0080-\uffff]/.test(c);
}

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9_$\u0080-\uffff]/.test(c);
}

function skipQuoted(sql: string, start: number, quote: string, backslashEscapes: boolean): number {
  let i = start + 1;
  while (i < sql.length) {
    if (backslashEscapes && sql[i] === '\\') i += 2;
    else if (sql[i] === quote) {
      if (sql[i + 1] === quote) i += 2;
      else return i + 1;
    } else i += 1;
  }
  return i;
}

function lineEnd(sql: string, start: number): number {
  const end = sql.indexOf('\n', start);
  return end < 0 ? sql.length : end + 1;
}

function blockCommentEnd(sql: string, start: number): number {
  let depth = 0;
  let i = start;
  while (i < sql.length) {
    if (sql[i] === '/' && sql[i + 1] === '*') {
      depth += 1;
      i += 2;
    } else if (sql[i] === '*' && sql[i + 1] === '/') {
      depth -= 1;
      i += 2;
      if (depth === 0) return i;
    } else i += 1;
  }
  return i;
}

/** `$tag$ ... $tag$`; a `$1` parameter is not a quote and is stepped over. */
function skipDollarQuote(sql: string, start: number): number {
  const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(start, start + 80));
  if (!tag) return start + 1;
  const close = sql.indexOf(tag[0], start + tag[0].length);
  return close < 0 ? sql.length : close + tag[0].length;
}
