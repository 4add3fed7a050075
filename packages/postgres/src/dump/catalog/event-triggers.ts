import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement } from './query.js';

const ENABLED: Record<string, string> = { D: 'DISABLE', R: 'ENABLE REPLICA', A: 'ENABLE ALWAYS' };

/** CREATE EVENT TRIGGER, then its enabled state when not the default (pg_dump's dumpEventTrigger). */
export async function readEventTriggers(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{
    oid: number;
    evtname: string;
    qname: string;
    sql: string;
    enabled: string;
  }>(`
    SELECT et.oid, et.evtname, pg_catalog.quote_ident(et.evtname) AS qname, et.evtenabled AS enabled,
      pg_catalog.format('CREATE EVENT TRIGGER %I ON %I', et.evtname, et.evtevent)
        || CASE WHEN et.evttags IS NOT NULL THEN E'\\n    WHEN TAG IN ('
             || (SELECT pg_catalog.string_agg(pg_catalog.quote_literal(tag), ', ') FROM pg_catalog.unnest(et.evttags) tag) || ')' ELSE '' END
        || E'\\n    EXECUTE FUNCTION ' || pg_catalog.format('%I.%I', n.nspname, p.proname) || '()' AS sql
    FROM pg_catalog.pg_event_trigger et JOIN pg_catalog.pg_proc p ON p.oid = et.evtfoid
    JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE ${notFromExtension('pg_event_trigger', 'et.oid')}
    ORDER BY et.evtname`);
  return rows.map((row) => {
    const state = ENABLED[row.enabled];
    return dumpObject({
      key: identity('pg_event_trigger', row.oid),
      kind: 'event-trigger',
      section: 'post-data',
      name: row.evtname,
      sql: statement(row.sql) + (state ? statement(`ALTER EVENT TRIGGER ${row.qname} ${state}`) : ''),
      identities: [identity('pg_event_trigger', row.oid)],
    });
  });
}
