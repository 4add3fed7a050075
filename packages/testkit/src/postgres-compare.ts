import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import { dataKindQueries } from './postgres-describe-data-kinds.js';
import { schemaKindQueries } from './postgres-describe-schema-kinds.js';

/**
 * Oracles for PostgreSQL round trips: a normalized description of a database's catalog (no OIDs, one
 * line per fact, sorted), a checksum of every table's COPY output, and the machine's `pg_dump -s`.
 * Two databases that should be equal give equal strings; a diff of them names what differs.
 */

const USER_SCHEMA = `nspname <> 'information_schema' AND nspname !~ '^pg_'`;
const NOT_EXTENSION = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;

/** Each query returns one column `line`; `$version` is replaced by server_version_num. */
function catalogQueries(version: number): string[] {
  const nullsNotDistinct = version >= 150000 ? 'i.indnullsnotdistinct' : 'false';
  const columnCompression = version >= 140000 ? "nullif(a.attcompression::text, '')" : 'NULL';
  return [
    `SELECT 'schema ' || nspname || ' owner=' || pg_get_userbyid(nspowner) || ' acl=' || coalesce(nspacl::text, '-') AS line
       FROM pg_namespace WHERE ${USER_SCHEMA}`,
    `SELECT 'extension ' || extname || ' schema=' || extnamespace::regnamespace::text AS line FROM pg_extension`,
    `SELECT 'type ' || format_type(t.oid, NULL) || ' typtype=' || t.typtype::text
        || ' base=' || coalesce(format_type(nullif(t.typbasetype, 0), t.typtypmod), '-')
        || ' default=' || coalesce(pg_get_expr(t.typdefaultbin, 'pg_type'::regclass), t.typdefault, '-') || ' notnull=' || t.typnotnull
        || ' labels=' || coalesce((SELECT string_agg(enumlabel, ',' ORDER BY enumsortorder) FROM pg_enum WHERE enumtypid = t.oid), '-')
        || ' attrs=' || coalesce((SELECT string_agg(attname || ':' || format_type(atttypid, atttypmod) || ':' || attcollation::regcollation::text, ',' ORDER BY attnum)
             FROM pg_attribute WHERE attrelid = t.typrelid AND attnum > 0 AND NOT attisdropped AND t.typtype = 'c'), '-')
        || ' range=' || coalesce((SELECT format_type(rngsubtype, NULL) || ':' || rngsubdiff::regproc::text || ':' || rngsubopc::regclass::text
             FROM pg_range WHERE rngtypid = t.oid), '-')
        || ' owner=' || pg_get_userbyid(t.typowner) || ' acl=' || coalesce(t.typacl::text, '-') AS line
       FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
       WHERE ${USER_SCHEMA} AND t.typtype IN ('e', 'd', 'c', 'r', 'm') AND ${NOT_EXTENSION('pg_type', 't.oid')}
         AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')`,
    `SELECT 'relation ' || c.oid::regclass::text || ' kind=' || c.relkind::text || ' persistence=' || c.relpersistence::text
        || ' options=' || coalesce(c.reloptions::text, '-')
        || ' toast=' || coalesce((SELECT t.reloptions::text FROM pg_class t WHERE t.oid = c.reltoastrelid), '-')
        || ' am=' || coalesce(am.amname, '-')
        || ' partkey=' || coalesce(pg_get_partkeydef(c.oid), '-') || ' bound=' || coalesce(pg_get_expr(c.relpartbound, c.oid), '-')
        || ' rls=' || c.relrowsecurity || '/' || c.relforcerowsecurity || ' populated=' || c.relispopulated
        || ' replident=' || c.relreplident::text
        || ' replident_index=' || coalesce((SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index WHERE indrelid = c.oid AND indisreplident), '-')
        || ' clustered_on=' || coalesce((SELECT string_agg(indexrelid::regclass::text, ',') FROM pg_index WHERE indrelid = c.oid AND indisclustered), '-')
        || ' inherits=' || coalesce((SELECT string_agg(inhparent::regclass::text, ',' ORDER BY inhseqno) FROM pg_inherits WHERE inhrelid = c.oid), '-')
        || ' of=' || coalesce(format_type(nullif(c.reloftype, 0), NULL), '-')
        || ' view=' || coalesce(CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END, '-')
        || ' owner=' || pg_get_userbyid(c.relowner) || ' acl=' || coalesce(c.relacl::text, '-') AS line
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace LEFT JOIN pg_am am ON am.oid = c.relam
       WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${NOT_EXTENSION('pg_class', 'c.oid')}`,
    `SELECT 'column ' || c.oid::regclass::text || '.' || a.attname
        || ' position=' || row_number() OVER (PARTITION BY a.attrelid ORDER BY a.attnum)
        || ' type=' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
        || ' default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), '-') || ' identity=' || a.attidentity::text
        || ' generated=' || a.attgenerated::text || ' collation=' || a.attcollation::regcollation::text
        || ' local=' || a.attislocal || ' inherited=' || a.attinhcount
        || ' statistics=' || coalesce(a.attstattarget::int, -1) || ' storage=' || a.attstorage::text
        || ' options=' || coalesce(a.attoptions::text, '-') || ' compression=' || coalesce(${columnCompression}, '-')
        || ' acl=' || coalesce(a.attacl::text, '-') AS line
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
       WHERE ${USER_SCHEMA} AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND a.attnum > 0 AND NOT a.attisdropped
         AND ${NOT_EXTENSION('pg_class', 'c.oid')}`,
    `SELECT 'system column ' || c.oid::regclass::text || '.' || a.attname || ' acl=' || a.attacl::text AS line
       FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE ${USER_SCHEMA} AND a.attnum < 0 AND a.attacl IS NOT NULL`,
    `SELECT 'constraint ' || CASE WHEN conrelid <> 0 THEN conrelid::regclass::text ELSE format_type(contypid, NULL) END || '.' || conname
        || ' type=' || contype::text || ' def=' || pg_get_constraintdef(co.oid)
        || ' deferrable=' || condeferrable || '/' || condeferred || ' validated=' || convalidated
        || ' local=' || conislocal || ' inherited=' || coninhcount -- connoinherit means something for CHECK and NOT NULL only; keys get it set by how they were created.
        || ' noinherit=' || CASE WHEN contype IN ('c', 'n') THEN connoinherit::text ELSE '-' END
        || ' parent=' || coalesce((SELECT p.conname FROM pg_constraint p WHERE p.oid = co.conparentid), '-') AS line
       FROM pg_constraint co JOIN pg_namespace n ON n.oid = co.connamespace
       WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION('pg_constraint', 'co.oid')}`,
    `SELECT 'index ' || i.indexrelid::regclass::text || ' def=' || pg_get_indexdef(i.indexrelid)
        || ' valid=' || i.indisvalid || ' nullsnotdistinct=' || ${nullsNotDistinct}
        || ' statistics=' || coalesce((SELECT string_agg(a.attnum || ':' || a.attstattarget, ',' ORDER BY a.attnum)
             FROM pg_attribute a WHERE a.attrelid = i.indexrelid AND a.attstattarget >= 0), '-')
        || ' parent=' || coalesce((SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = i.indexrelid), '-') AS line
       FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       -- An invalid index (a failed CREATE INDEX CONCURRENTLY) is not restored, like pg_dump; a partitioned
       -- index is invalid until every partition has one, so that one is restored as it is.
       WHERE ${USER_SCHEMA} AND (i.indisvalid OR c.relkind = 'I')`,
    `SELECT 'trigger ' || tgrelid::regclass::text || '.' || tgname || ' def=' || pg_get_triggerdef(t.oid)
        || ' enabled=' || tgenabled::text || ' clone=' || (tgparentid <> 0) AS line
       FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE ${USER_SCHEMA} AND NOT tgisinternal`,
    `SELECT 'policy ' || polrelid::regclass::text || '.' || polname || ' permissive=' || polpermissive || ' cmd=' || polcmd::text
        || ' roles=' || (SELECT string_agg(CASE WHEN r = 0 THEN 'public' ELSE pg_get_userbyid(r) END, ',' ORDER BY 1) FROM unnest(polroles) r)
        || ' using=' || coalesce(pg_get_expr(polqual, polrelid), '-') || ' check=' || coalesce(pg_get_expr(polwithcheck, polrelid), '-') AS line
       FROM pg_policy`,
    `SELECT 'rule ' || ev_class::regclass::text || '.' || rulename || ' def=' || pg_get_ruledef(r.oid) || ' enabled=' || ev_enabled::text AS line
       FROM pg_rewrite r JOIN pg_class c ON c.oid = r.ev_class JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE ${USER_SCHEMA} AND rulename <> '_RETURN'`,
    `SELECT 'routine ' || p.oid::regprocedure::text || ' kind=' || p.prokind::text
        || ' def=' || CASE WHEN p.prokind = 'a' THEN
             (SELECT concat_ws(':', aggkind, aggnumdirectargs, aggtransfn::regproc, aggfinalfn::regproc, aggcombinefn::regproc,
                aggserialfn::regproc, aggdeserialfn::regproc, aggmtransfn::regproc, aggminvtransfn::regproc, aggmfinalfn::regproc,
                aggfinalextra, aggmfinalextra, aggfinalmodify, aggmfinalmodify, aggsortop::regoperator, format_type(aggtranstype, NULL),
                aggtransspace, format_type(nullif(aggmtranstype, 0), NULL), aggmtransspace, agginitval, aggminitval, p.proparallel)
              FROM pg_aggregate WHERE aggfnoid = p.oid)
           ELSE pg_get_functiondef(p.oid) END
        || ' owner=' || pg_get_userbyid(p.proowner) || ' acl=' || coalesce(p.proacl::text, '-') AS line
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
       WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION('pg_proc', 'p.oid')}`,
    `SELECT 'sequence ' || s.seqrelid::regclass::text || ' type=' || format_type(s.seqtypid, NULL) || ' start=' || s.seqstart
        || ' increment=' || s.seqincrement || ' min=' || s.seqmin || ' max=' || s.seqmax || ' cache=' || s.seqcache
        || ' cycle=' || s.seqcycle
        || ' owned=' || coalesce((SELECT refobjid::regclass::text || '.' || refobjsubid || ':' || deptype::text FROM pg_depend d
             WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.refclassid = 'pg_class'::regclass
               AND d.deptype IN ('a', 'i')), '-') AS line
       FROM pg_sequence s JOIN pg_class c ON c.oid = s.seqrelid JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE ${USER_SCHEMA}`,
    `SELECT 'comment ' || pg_describe_object(classoid, objoid, objsubid) || ' = ' || description AS line
       FROM pg_description WHERE objoid >= 16384 OR classoid = 'pg_largeobject'::regclass
         OR (classoid = 'pg_namespace'::regclass AND objoid = 'public'::regnamespace)`,
    ...dataKindQueries(version),
  ];
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(
      "SET search_path = ''; SET extra_float_digits = 3; SET DateStyle = ISO; SET IntervalStyle = postgres",
    );
    return await work(client);
  } finally {
    await client.end();
  }
}

/** The catalog of a database as sorted text lines, with no OIDs: equal databases give equal text. */
export async function describeDatabase(url: string): Promise<string> {
  return withClient(url, async (client) => {
    // SHOW names its one column after the setting.
    const version = Number(
      (await client.query<{ server_version_num: string }>('SHOW server_version_num')).rows[0]
        ?.server_version_num,
    );
    const lines: string[] = [];
    for (const sql of [...catalogQueries(version), ...schemaKindQueries(version)]) {
      // With an empty search_path every name comes back schema-qualified (pg_catalog is still searched).
      const result = await client.query<{ line: string | null }>(sql);
      for (const row of result.rows) if (row.line !== null) lines.push(row.line);
    }
    return `${lines.sort().join('\n')}\n`;
  });
}

/** Per table: row count and SHA-256 of its COPY text output with the lines sorted (row order is not data). */
export async function tableChecksums(url: string): Promise<Record<string, string>> {
  return withClient(url, async (client) => {
    const tables = await client.query<{ name: string; columns: string }>(`
      SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) AS name,
        (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attname) FROM pg_catalog.pg_attribute a
          WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS columns
      FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
      WHERE (c.relkind = 'r' OR (c.relkind = 'm' AND c.relispopulated)) AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_' ORDER BY 1`);
    const sums: Record<string, string> = {};
    for (const table of tables.rows) {
      const chunks: Buffer[] = [];
      // Columns in name order, so a different physical column order does not hide equal data.
      const query = `COPY (SELECT ${table.columns ?? ''} FROM ONLY ${table.name}) TO STDOUT`;
      for await (const chunk of client.query(copyTo(query)) as AsyncIterable<Buffer>) chunks.push(chunk);
      const lines = Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '')
        .sort();
      sums[table.name] =
        `${lines.length} rows ${createHash('sha256').update(lines.join('\n')).digest('hex')}`;
    }
    return sums;
  });
}

/** The major version of the machine's `pg_dump`, or undefined when there is none. */
export function machinePgDumpMajor(): number | undefined {
  try {
    const version = execFileSync('pg_dump', ['--version'], { encoding: 'utf8' });
    const match = /(\d+)(?:\.\d+)?/.exec(version.replace(/^[^0-9]*/, ''));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** `pg_dump --schema-only` of a database, without the per-run `\restrict` keys and comments. */
export function pgDumpSchema(url: string): string {
  const output = execFileSync('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', url], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  return output
    .split('\n')
    .filter((line) => !/^\\(un)?restrict /.test(line) && !line.startsWith('-- Dumped'))
    .join('\n');
}
