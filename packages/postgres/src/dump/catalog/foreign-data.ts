import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement } from './query.js';

/** `OPTIONS (name 'value', ...)` from a generic options array (on a line of its own, or inline), or nothing. */
export function optionsClause(column: string, inline = false): string {
  return `COALESCE(${inline ? "' '" : "E'\\n    '"} || 'OPTIONS (' || (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(o.option_name) || ' '
      || pg_catalog.quote_literal(o.option_value), ', ' ORDER BY o.option_name) FROM pg_catalog.pg_options_to_table(${column}) o) || ')', '')`;
}

/**
 * Foreign-data wrappers, servers and the servers' user mappings, like pg_dump's dumpForeignDataWrapper,
 * dumpForeignServer and dumpUserMappings. Mapping options come from pg_user_mappings, which shows
 * them (a password too) only to a superuser or the mapped user, exactly what pg_dump writes.
 */
export async function readForeignData(reader: CatalogReader): Promise<DumpObject[]> {
  const wrappers = await reader.rows<{ oid: number; name: string; sql: string }>(`
    SELECT w.oid, w.fdwname AS name,
      pg_catalog.format('CREATE FOREIGN DATA WRAPPER %I', w.fdwname)
        || CASE WHEN w.fdwhandler <> 0 THEN ' HANDLER ' || w.fdwhandler::pg_catalog.regproc::text ELSE ' NO HANDLER' END
        || CASE WHEN w.fdwvalidator <> 0 THEN ' VALIDATOR ' || w.fdwvalidator::pg_catalog.regproc::text ELSE ' NO VALIDATOR' END
        || ${optionsClause('w.fdwoptions')} AS sql
    FROM pg_catalog.pg_foreign_data_wrapper w WHERE ${notFromExtension('pg_foreign_data_wrapper', 'w.oid')}
    ORDER BY 2`);
  const servers = await reader.rows<{ oid: number; name: string; sql: string }>(`
    SELECT s.oid, s.srvname AS name,
      pg_catalog.format('CREATE SERVER %I', s.srvname)
        || CASE WHEN s.srvtype IS NOT NULL THEN ' TYPE ' || pg_catalog.quote_literal(s.srvtype) ELSE '' END
        || CASE WHEN s.srvversion IS NOT NULL THEN ' VERSION ' || pg_catalog.quote_literal(s.srvversion) ELSE '' END
        || pg_catalog.format(' FOREIGN DATA WRAPPER %I', w.fdwname) || ${optionsClause('s.srvoptions')} AS sql
    FROM pg_catalog.pg_foreign_server s JOIN pg_catalog.pg_foreign_data_wrapper w ON w.oid = s.srvfdw
    WHERE ${notFromExtension('pg_foreign_server', 's.oid')}
    ORDER BY 2`);
  const mappings = await reader.rows<{ oid: number; srvid: number; name: string; sql: string }>(`
    SELECT u.umid AS oid, u.srvid, u.usename || ' SERVER ' || u.srvname AS name,
      'CREATE USER MAPPING FOR ' || CASE WHEN u.umuser = 0 THEN 'PUBLIC' ELSE pg_catalog.quote_ident(u.usename) END
        || ' SERVER ' || pg_catalog.quote_ident(u.srvname) || ${optionsClause('u.umoptions')} AS sql
    FROM pg_catalog.pg_user_mappings u
    WHERE ${notFromExtension('pg_foreign_server', 'u.srvid')}
    ORDER BY 3`);
  return [
    ...wrappers.map((row) =>
      dumpObject({
        key: identity('pg_foreign_data_wrapper', row.oid),
        kind: 'foreign-data-wrapper',
        section: 'pre-data',
        name: row.name,
        sql: statement(row.sql),
        identities: [identity('pg_foreign_data_wrapper', row.oid)],
      }),
    ),
    ...servers.map((row) =>
      dumpObject({
        key: identity('pg_foreign_server', row.oid),
        kind: 'foreign-server',
        section: 'pre-data',
        name: row.name,
        sql: statement(row.sql),
        identities: [identity('pg_foreign_server', row.oid)],
      }),
    ),
    ...mappings.map((row) =>
      dumpObject({
        key: identity('pg_user_mapping', row.oid),
        kind: 'user-mapping',
        section: 'pre-data',
        name: row.name,
        sql: statement(row.sql),
        identities: [identity('pg_user_mapping', row.oid)],
        after: [identity('pg_foreign_server', row.srvid)],
      }),
    ),
  ];
}
