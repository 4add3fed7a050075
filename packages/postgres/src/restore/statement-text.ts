/** Small readings of one statement's text that the restore needs; everything else goes to the server. */

const IDENTIFIER = String.raw`(?:"(?:[^"]|"")*"|[^\s"(.;]+)`;
const COPY_FROM_STDIN = new RegExp(
  String.raw`^COPY\s+(${IDENTIFIER}(?:\s*\.\s*${IDENTIFIER})*)\s*(?:\((?:[^)"]|"(?:[^"]|"")*")*\))?\s*FROM\s+STDIN\b`,
  'i',
);

/** For `COPY table [(columns)] FROM stdin ...`, the table as written; undefined for any other statement. */
export function copyFromStdinTable(sql: string): string | undefined {
  return COPY_FROM_STDIN.exec(sql)?.[1];
}

const SET_STATEMENT = /^SET\s+(?:SESSION\s+)?([a-z_][a-z0-9_.]*)\s*(?:=|\bTO\b)\s*(.*?)\s*;?\s*$/is;
const SET_CONFIG_CALL =
  /^SELECT\s+(?:pg_catalog\.)?set_config\s*\(\s*'([^']*)'\s*,\s*'((?:[^']|'')*)'\s*,\s*(?:false|true)\s*\)\s*;?\s*$/is;

/** The setting a `SET x = v` or `SELECT pg_catalog.set_config('x', 'v', ...)` statement changes, if any. */
export function settingChangedBy(sql: string): { name: string; value: string } | undefined {
  const set = SET_STATEMENT.exec(sql);
  if (set) return { name: set[1]!.toLowerCase(), value: unquote(set[2]!) };
  const call = SET_CONFIG_CALL.exec(sql);
  if (call) return { name: call[1]!.toLowerCase(), value: call[2]!.replaceAll("''", "'") };
  return undefined;
}

function unquote(value: string): string {
  const quoted = /^'((?:[^']|'')*)'$/s.exec(value);
  return quoted ? quoted[1]!.replaceAll("''", "'") : value;
}

/** A user mapping's options may hold a password (pg_dump writes them as the catalog shows them). */
const USER_MAPPING_OPTIONS =
  /^((?:CREATE|ALTER)\s+USER\s+MAPPING\b.*?\bOPTIONS\s*)\((?:[^']|'(?:[^']|'')*')*\)/is;

/** A statement shortened to one line for an error message, user mapping options left out. */
export function summarizeStatement(sql: string, maxLength = 200): string {
  const line = sql.replace(/\s+/g, ' ').trim().replace(USER_MAPPING_OPTIONS, '$1(...)');
  return line.length <= maxLength ? line : `${line.slice(0, maxLength)}...`;
}
