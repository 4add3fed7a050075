/**
 * The oracle's lines for the data and privilege kinds (large objects with a checksum of their content,
 * publications and their members, subscriptions, default privileges, extension versions and their
 * configuration tables, the current database's settings and comment). Called from describeDatabase; each query returns one column `line`.
 */
export function dataKindQueries(version: number): string[] {
  const viaRoot = version >= 130000 ? 'p.pubviaroot::text' : "'-'";
  const generated = version >= 180000 ? 'p.pubgencols::text' : "'-'";
  const queries = [
    `SELECT 'large object ' || l.oid || ' owner=' || pg_get_userbyid(l.lomowner) || ' acl=' || coalesce(l.lomacl::text, '-')
        || ' bytes=' || length(lo_get(l.oid)) || ' md5=' || md5(lo_get(l.oid)) AS line
       FROM pg_largeobject_metadata l`,
    `SELECT 'publication ' || p.pubname || ' all=' || p.puballtables
        || ' publish=' || concat_ws(',', p.pubinsert, p.pubupdate, p.pubdelete, p.pubtruncate)
        || ' viaroot=' || ${viaRoot} || ' generated=' || ${generated} || ' owner=' || pg_get_userbyid(p.pubowner) AS line
       FROM pg_publication p`,
    `SELECT 'publication table ' || p.pubname || ' ' || r.prrelid::regclass::text
        || ' columns=' || ${version >= 150000 ? `coalesce((SELECT string_agg(a.attname, ',' ORDER BY a.attnum) FROM pg_attribute a WHERE a.attrelid = r.prrelid AND a.attnum = ANY (r.prattrs)), '-')` : "'-'"}
        || ' where=' || ${version >= 150000 ? "coalesce(pg_get_expr(r.prqual, r.prrelid), '-')" : "'-'"} AS line
       FROM pg_publication_rel r JOIN pg_publication p ON p.oid = r.prpubid`,
    `SELECT 'subscription ' || s.subname || ' enabled=' || s.subenabled || ' conninfo=' || s.subconninfo
        || ' slot=' || coalesce(s.subslotname::text, '-') || ' synccommit=' || s.subsynccommit
        || ' publications=' || array_to_string(s.subpublications, ',')
        || ' options=' || concat_ws(',', ${subscriptionOptions(version)})
        || ' owner=' || pg_get_userbyid(s.subowner) AS line
       FROM pg_subscription s WHERE s.subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    `SELECT 'default privileges ' || pg_get_userbyid(d.defaclrole) || ' schema=' || coalesce(n.nspname, '-')
        || ' type=' || d.defaclobjtype::text || ' acl=' || d.defaclacl::text AS line
       FROM pg_default_acl d LEFT JOIN pg_namespace n ON n.oid = d.defaclnamespace`,
    `SELECT 'extension ' || x.extname || ' version=' || x.extversion
        || ' config=' || coalesce((SELECT string_agg(c::regclass::text, ',' ORDER BY c::regclass::text) FROM unnest(x.extconfig) c), '-')
        || ' conditions=' || coalesce(array_to_string(x.extcondition, ','), '-') AS line
       FROM pg_extension x`,
    `SELECT 'extension sequence ' || s.schemaname || '.' || s.sequencename || ' value=' || coalesce(s.last_value::text, '-') AS line
       FROM pg_sequences s WHERE EXISTS (SELECT 1 FROM pg_extension x
         WHERE format('%I.%I', s.schemaname, s.sequencename)::regclass = ANY (x.extconfig))`,
    `SELECT 'database setting ' || coalesce(pg_get_userbyid(nullif(s.setrole, 0)), '-') || ' ' || c AS line
       FROM pg_db_role_setting s, unnest(s.setconfig) c
       WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    `SELECT 'database comment ' || shobj_description(d.oid, 'pg_database') AS line
       FROM pg_database d WHERE d.datname = current_database()`,
    // Privileges of the system's and extensions' objects changed since initdb or CREATE EXTENSION
    // (what pg_init_privs does not hold).
    `SELECT 'system acl ' || i.type || ' ' || i.identity || ' acl=' || coalesce(o.acl::text, '-') AS line
       FROM (SELECT 'pg_class'::regclass AS classid, c.oid, 0 AS subid, c.relacl AS acl FROM pg_class c
         UNION ALL SELECT 'pg_class'::regclass, a.attrelid, a.attnum, a.attacl FROM pg_attribute a WHERE a.attacl IS NOT NULL
         UNION ALL SELECT 'pg_proc'::regclass, p.oid, 0, p.proacl FROM pg_proc p
         UNION ALL SELECT 'pg_type'::regclass, t.oid, 0, t.typacl FROM pg_type t) o,
         LATERAL pg_identify_object(o.classid, o.oid, o.subid) i
       WHERE ((o.oid < 16384 AND i.schema = 'pg_catalog')
           OR EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = o.classid AND e.objid = o.oid AND e.deptype = 'e'))
         AND o.acl IS DISTINCT FROM (SELECT ip.initprivs FROM pg_init_privs ip
           WHERE ip.classoid = o.classid AND ip.objoid = o.oid AND ip.objsubid = o.subid)`,
    // Not the owner: tests restore into databases other roles own; the grants carry the grantor anyway.
    `SELECT 'database acl=' || coalesce(d.datacl::text, '-') AS line
       FROM pg_database d WHERE d.datname = current_database()`,
  ];
  if (version >= 150000) {
    queries.push(`SELECT 'publication schema ' || p.pubname || ' ' || n.nspname AS line
       FROM pg_publication_namespace s JOIN pg_publication p ON p.oid = s.pnpubid JOIN pg_namespace n ON n.oid = s.pnnspid`);
  }
  return queries;
}

function subscriptionOptions(version: number): string {
  const options = ["'-'"];
  if (version >= 140000) options.push("'binary:' || s.subbinary", "'stream:' || s.substream::text");
  if (version >= 150000)
    options.push("'twophase:' || s.subtwophasestate::text", "'disableonerr:' || s.subdisableonerr");
  if (version >= 160000)
    options.push(
      "'passwordrequired:' || s.subpasswordrequired",
      "'runasowner:' || s.subrunasowner",
      "'origin:' || s.suborigin",
    );
  if (version >= 170000) options.push("'failover:' || s.subfailover");
  return options.join(', ');
}
