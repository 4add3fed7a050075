import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, statement } from './query.js';

/**
 * The subscriptions of the dumped database, written like pg_dump's: `WITH (connect = false, ...)`, so a
 * restore creates them disabled, with no slot, and never connects to the publisher; the user enables
 * them (`ALTER SUBSCRIPTION ... ENABLE`, and `REFRESH PUBLICATION`) when the restored copy is meant to
 * replicate. The connection string is dumped as it is, like pg_dump: it may hold a password.
 * Only a superuser may read `subconninfo`; for anyone else each subscription is a gap.
 */
export async function readSubscriptions(reader: CatalogReader): Promise<DumpObject[]> {
  const v = reader.version;
  const ofThisDatabase = `s.subdbid = (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname = pg_catalog.current_database())`;
  const [access] = await reader.rows<{ readable: boolean }>(
    "SELECT pg_catalog.has_column_privilege('pg_catalog.pg_subscription', 'subconninfo', 'SELECT') AS readable",
  );
  if (!access?.readable) {
    const names = await reader.rows<{ subname: string }>(
      `SELECT s.subname FROM pg_catalog.pg_subscription s WHERE ${ofThisDatabase} ORDER BY 1`,
    );
    for (const row of names)
      reader.gap('subscription', `${row.subname} (only a superuser may read its connection string)`);
    return [];
  }
  const options = [
    "CASE WHEN s.subslotname IS NULL THEN ', slot_name = NONE' ELSE ', slot_name = ' || pg_catalog.quote_literal(s.subslotname) END",
    ...(v >= 140000 ? ["CASE WHEN s.subbinary THEN ', binary = true' ELSE '' END"] : []),
    ...(v >= 160000
      ? [
          "', streaming = ' || CASE s.substream WHEN 't' THEN 'on' WHEN 'p' THEN 'parallel' ELSE 'off' END",
          "CASE WHEN NOT s.subpasswordrequired THEN ', password_required = false' ELSE '' END",
          "CASE WHEN s.subrunasowner THEN ', run_as_owner = true' ELSE '' END",
          "', origin = ' || pg_catalog.quote_literal(s.suborigin)",
        ]
      : v >= 140000
        ? ["', streaming = ' || CASE WHEN s.substream THEN 'on' ELSE 'off' END"]
        : []),
    ...(v >= 150000
      ? [
          "CASE WHEN s.subtwophasestate <> 'd' THEN ', two_phase = on' ELSE '' END",
          "CASE WHEN s.subdisableonerr THEN ', disable_on_error = true' ELSE '' END",
        ]
      : []),
    ...(v >= 170000 ? ["CASE WHEN s.subfailover THEN ', failover = true' ELSE '' END"] : []),
    "CASE WHEN s.subsynccommit <> 'off' THEN ', synchronous_commit = ' || pg_catalog.quote_literal(s.subsynccommit) ELSE '' END",
  ];
  const rows = await reader.rows<{ oid: number; subname: string; sql: string }>(`
    SELECT s.oid, s.subname,
      'CREATE SUBSCRIPTION ' || pg_catalog.quote_ident(s.subname)
        || ' CONNECTION ' || pg_catalog.quote_literal(s.subconninfo)
        || ' PUBLICATION ' || (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p), ', ' ORDER BY n)
             FROM pg_catalog.unnest(s.subpublications) WITH ORDINALITY u(p, n))
        || ' WITH (connect = false' || ${options.join(' || ')} || ')' AS sql
    FROM pg_catalog.pg_subscription s WHERE ${ofThisDatabase} ORDER BY s.subname`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_subscription', row.oid),
      kind: 'subscription',
      section: 'post-data',
      name: row.subname,
      sql: statement(row.sql),
      identities: [identity('pg_subscription', row.oid)],
    }),
  );
}
