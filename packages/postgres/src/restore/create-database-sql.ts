import { NexusError } from '@nexus-backup/core';
import type { Client } from 'pg';
import type { DatabaseLocale } from '../dump/database-locale.js';

/** The first major whose CREATE DATABASE takes each locale provider. */
const PROVIDER_SINCE: Record<string, number> = { icu: 150000, builtin: 170000 };

/**
 * `CREATE DATABASE` from template0 with the source database's encoding and locale when the backup
 * recorded them (like `pg_dump --create`), else the target server's defaults (older backups).
 */
export function createDatabaseStatement(
  client: Client,
  name: string,
  locale: DatabaseLocale | undefined,
  targetVersionNum: number,
): string {
  const statement = `CREATE DATABASE ${client.escapeIdentifier(name)} TEMPLATE template0`;
  if (!locale) return statement;
  const literal = (value: string) => client.escapeLiteral(value);
  const parts = [
    statement,
    `ENCODING ${literal(locale.encoding)}`,
    `LC_COLLATE ${literal(locale.collate)}`,
    `LC_CTYPE ${literal(locale.ctype)}`,
  ];
  if (locale.provider) {
    const since = PROVIDER_SINCE[locale.provider];
    if (since === undefined || targetVersionNum < since) {
      throw new NexusError(
        'TARGET',
        `the backed-up database uses the ${locale.provider} locale provider (${locale.locale ?? 'no locale'}), which this PostgreSQL server cannot create`,
        {
          provider: 'postgres',
          hint: 'restore into a newer server, or create the database yourself and restore into it with --db',
        },
      );
    }
    parts.push(`LOCALE_PROVIDER ${locale.provider}`);
    if (locale.locale)
      parts.push(`${locale.provider === 'icu' ? 'ICU_LOCALE' : 'BUILTIN_LOCALE'} ${literal(locale.locale)}`);
    if (locale.icuRules && locale.provider === 'icu' && targetVersionNum >= 160000)
      parts.push(`ICU_RULES ${literal(locale.icuRules)}`);
  }
  return parts.join(' ');
}
