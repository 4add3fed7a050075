/**
 * Which post-data statements may run side by side on other connections, and which tables each one
 * locks. Index builds (ShareLock) do not block each other; adding a key takes an ACCESS EXCLUSIVE lock
 * on its table and a foreign key a SHARE ROW EXCLUSIVE lock on both of its tables, so those never run
 * next to another statement on the same table (which also rules out lock-order deadlocks). Attaching
 * an index as a key (`ADD CONSTRAINT ... PRIMARY KEY USING INDEX i`) takes the same exclusive lock, so it
 * never starts while the build of `i` on its table runs or waits ahead of it.
 */
export interface PostDataWork {
  /** Statements of one group run in parallel; a statement of another kind (or none) waits for all. */
  group: 'build' | 'foreign-key';
  /** Tables locked in a mode that conflicts with any other statement on them. */
  exclusive: string[];
  /** Tables locked in a mode that only conflicts with `exclusive` use. */
  shared: string[];
}

/** One SQL identifier, quoted or not. */
export const IDENT = '(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)';
/** An identifier, optionally schema-qualified. */
export const QNAME = String.raw`${IDENT}(?:\s*\.\s*${IDENT})?`;
const CREATE_INDEX = new RegExp(
  String.raw`^CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:${IDENT}\s+)?ON\s+(?:ONLY\s+)?(${QNAME})\s+USING\b`,
  'i',
);
const ADD_KEY = new RegExp(
  String.raw`^ALTER\s+TABLE\s+(?:ONLY\s+)?(${QNAME})\s+ADD\s+CONSTRAINT\s+${IDENT}\s+` +
    String.raw`(?:(?:PRIMARY\s+KEY|UNIQUE(?:\s+NULLS\s+(?:NOT\s+)?DISTINCT)?)\s*(?:\(|USING\s+INDEX\b)|EXCLUDE\b)`,
  'i',
);
const ADD_FOREIGN_KEY = new RegExp(
  String.raw`^ALTER\s+TABLE\s+(?:ONLY\s+)?(${QNAME})\s+ADD\s+CONSTRAINT\s+${IDENT}\s+FOREIGN\s+KEY\s*\([\s\S]*?\)\s*REFERENCES\s+(${QNAME})`,
  'i',
);

/** The parallel work a statement is, or undefined for one that runs in script order on the main connection. */
export function postDataWork(sql: string): PostDataWork | undefined {
  const index = CREATE_INDEX.exec(sql);
  if (index) return { group: 'build', exclusive: [], shared: [tableKey(index[1] as string)] };
  const key = ADD_KEY.exec(sql);
  if (key) return { group: 'build', exclusive: [tableKey(key[1] as string)], shared: [] };
  const foreign = ADD_FOREIGN_KEY.exec(sql);
  if (foreign) {
    return {
      group: 'foreign-key',
      exclusive: [tableKey(foreign[1] as string), tableKey(foreign[2] as string)],
      shared: [],
    };
  }
  return undefined;
}

/** `public."Orders"` and `PUBLIC.orders` name different tables; `Public.orders` and `public.orders` the same. */
export function tableKey(name: string): string {
  return (name.match(new RegExp(IDENT, 'g')) ?? []).map(unquoteIdentifier).join('.');
}

/** `"Odd ""name"""` -> `Odd "name"`; an unquoted identifier folds to lower case. */
export function unquoteIdentifier(part: string): string {
  return part.startsWith('"') ? part.slice(1, -1).replaceAll('""', '"') : part.toLowerCase();
}
