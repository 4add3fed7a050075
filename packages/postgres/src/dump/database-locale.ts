import type { Json } from '@nexus-backup/core';
import type pg from 'pg';

/**
 * The encoding and locale of the dumped database, recorded in the pre-data artifact's meta so that
 * `restore --create-db` makes the new database with them (as `pg_dump --create` does) instead of the
 * target server's defaults: a different collation changes text ordering and which indexes apply, a
 * different encoding which characters fit.
 */
export interface DatabaseLocale {
  encoding: string;
  collate: string;
  ctype: string;
  /** 'icu' or 'builtin' (PostgreSQL 15+ / 17+); absent for libc, the only provider before 15. */
  provider?: string;
  /** The ICU locale or the builtin one. */
  locale?: string;
  /** ICU tailoring rules (PostgreSQL 16+). */
  icuRules?: string;
}

const PROVIDERS: Record<string, string> = { i: 'icu', b: 'builtin' };

export async function readDatabaseLocale(client: pg.Client, versionNum: number): Promise<DatabaseLocale> {
  const locale = versionNum >= 170000 ? 'datlocale' : versionNum >= 150000 ? 'daticulocale' : 'NULL::text';
  const provider = versionNum >= 150000 ? 'datlocprovider::text' : "'c'";
  const rules = versionNum >= 160000 ? 'daticurules' : 'NULL::text';
  const { rows } = await client.query<{
    encoding: string;
    collate: string;
    ctype: string;
    provider: string;
    locale: string | null;
    rules: string | null;
  }>(
    `SELECT pg_catalog.pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype,
       ${provider} AS provider, ${locale} AS locale, ${rules} AS rules
     FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()`,
  );
  const row = rows[0];
  if (!row) throw new Error('the server did not describe the current database');
  const named = PROVIDERS[row.provider];
  return {
    encoding: row.encoding,
    collate: row.collate,
    ctype: row.ctype,
    ...(named ? { provider: named } : {}),
    ...(named && row.locale ? { locale: row.locale } : {}),
    ...(row.rules ? { icuRules: row.rules } : {}),
  };
}

/** For the manifest: every field is text, and absent ones are left out rather than undefined. */
export function localeMeta(locale: DatabaseLocale): { [key: string]: Json } {
  return { ...locale } as { [key: string]: string };
}

/** A recorded locale read back from a manifest; undefined for backups made before it was recorded. */
export function storedDatabaseLocale(value: Json | undefined): DatabaseLocale | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const { encoding, collate, ctype } = value;
  if (typeof encoding !== 'string' || typeof collate !== 'string' || typeof ctype !== 'string')
    return undefined;
  const text = (key: string) => (typeof value[key] === 'string' ? { [key]: value[key] as string } : {});
  return { encoding, collate, ctype, ...text('provider'), ...text('locale'), ...text('icuRules') };
}
