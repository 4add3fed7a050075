import type pg from 'pg';

/** One object the dump cannot write: its kind and qualified name, as the user would look it up. */
export interface Gap {
  kind: string;
  name: string;
}

/** What every catalog reader gets: one connection inside the dump's snapshot, and the server version. */
export interface CatalogReader {
  /** `server_version_num`, e.g. 160004; catalogs differ across majors 13-18. */
  version: number;
  rows<R extends pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
  warn(message: string): void;
  /** Records an object the dump leaves out; the dump then fails unless the user allowed an incomplete one. */
  gap(kind: string, name: string): void;
}

export function catalogReader(
  client: pg.Client,
  version: number,
  warn: (message: string) => void,
  gap: (kind: string, name: string) => void = (kind, name) => warn(`${kind} ${name} is not dumped`),
): CatalogReader {
  return {
    version,
    async rows<R extends pg.QueryResultRow>(sql: string, params?: unknown[]) {
      return (await client.query<R>(sql, params)).rows;
    },
    warn,
    gap,
  };
}

/** Schemas that hold user objects (not the system's, not temp or toast). */
export function userSchema(nspname: string): string {
  return `(${nspname} <> 'information_schema' AND ${nspname} !~ '^pg_')`;
}

/** Objects created by an extension are restored by CREATE EXTENSION, not by us. */
export function notFromExtension(catalog: string, oid: string): string {
  return `NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend e WHERE e.classid = 'pg_catalog.${catalog}'::pg_catalog.regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
}

export function statement(sql: string): string {
  return `${sql.trimEnd().replace(/;$/, '')};\n`;
}
