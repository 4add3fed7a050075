/**
 * Catalog description of the schema-level kinds beyond relations and routines: languages, transforms,
 * collations, base types,
 * casts, conversions, access methods, operators with their classes and families, text search objects,
 * statistics objects, event triggers, foreign-data wrappers, servers, user mappings and foreign tables.
 * One line per fact, no OIDs; each query returns one column `line`. Comments are described elsewhere.
 */
const USER_SCHEMA = `n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`;
const NOT_EXTENSION = (catalog: string, oid: string) =>
  `NOT EXISTS (SELECT 1 FROM pg_depend e WHERE e.classid = '${catalog}'::regclass AND e.objid = ${oid} AND e.deptype = 'e')`;
const OPTIONS = (column: string) =>
  `coalesce((SELECT string_agg(option_name || '=' || option_value, ',' ORDER BY option_name) FROM pg_options_to_table(${column})), '-')`;
const IN_SCHEMA = (catalog: string, alias: string, namespace: string) =>
  `FROM ${catalog} ${alias} JOIN pg_namespace n ON n.oid = ${alias}.${namespace}
   WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION(catalog, `${alias}.oid`)}`;

export function schemaKindQueries(version: number): string[] {
  const locale = version >= 170000 ? 'c.colllocale' : version >= 150000 ? 'c.colliculocale' : 'NULL';
  const rules = version >= 160000 ? 'c.collicurules' : 'NULL';
  const subscript = version >= 140000 ? 't.typsubscript::regproc::text' : `'-'`;
  return [
    `SELECT 'collation ' || c.oid::regcollation::text || ' provider=' || c.collprovider::text
        || ' deterministic=' || c.collisdeterministic || ' collate=' || coalesce(c.collcollate, '-')
        || ' ctype=' || coalesce(c.collctype, '-') || ' locale=' || coalesce(${locale}, '-')
        || ' rules=' || coalesce(${rules}, '-') || ' owner=' || pg_get_userbyid(c.collowner) AS line
       ${IN_SCHEMA('pg_collation', 'c', 'collnamespace')}`,
    `SELECT 'base type ' || format_type(t.oid, NULL) || ' len=' || t.typlen || ' byval=' || t.typbyval
        || ' category=' || t.typcategory::text || ' preferred=' || t.typispreferred || ' delim=' || t.typdelim::text
        || ' io=' || concat_ws(',', t.typinput::regproc, t.typoutput::regproc, t.typreceive::regproc, t.typsend::regproc,
             t.typmodin::regproc, t.typmodout::regproc, t.typanalyze::regproc, ${subscript})
        || ' elem=' || t.typelem::regtype::text || ' align=' || t.typalign::text || ' storage=' || t.typstorage::text
        || ' default=' || coalesce(t.typdefault, '-') || ' collation=' || t.typcollation::regcollation::text
        || ' owner=' || pg_get_userbyid(t.typowner) || ' acl=' || coalesce(t.typacl::text, '-') AS line
       ${IN_SCHEMA('pg_type', 't', 'typnamespace')} AND t.typtype IN ('b', 'p')
         AND NOT EXISTS (SELECT 1 FROM pg_type e WHERE e.typarray = t.oid)`,
    `SELECT 'cast ' || format_type(c.castsource, NULL) || ' as ' || format_type(c.casttarget, NULL)
        || ' function=' || c.castfunc::regprocedure::text || ' context=' || c.castcontext::text || ' method=' || c.castmethod::text AS line
       FROM pg_cast c WHERE c.oid >= 16384 AND ${NOT_EXTENSION('pg_cast', 'c.oid')}`,
    `SELECT 'conversion ' || n.nspname || '.' || c.conname || ' ' || pg_encoding_to_char(c.conforencoding) || '->'
        || pg_encoding_to_char(c.contoencoding) || ' proc=' || c.conproc::regprocedure::text || ' default=' || c.condefault
        || ' owner=' || pg_get_userbyid(c.conowner) AS line
       ${IN_SCHEMA('pg_conversion', 'c', 'connamespace')}`,
    `SELECT 'access method ' || a.amname || ' type=' || a.amtype::text || ' handler=' || a.amhandler::regproc::text AS line
       FROM pg_am a WHERE a.oid >= 16384 AND ${NOT_EXTENSION('pg_am', 'a.oid')}`,
    `SELECT 'operator ' || o.oid::regoperator::text || ' function=' || o.oprcode::regproc::text
        || ' result=' || format_type(o.oprresult, NULL) || ' commutator=' || o.oprcom::regoperator::text
        || ' negator=' || o.oprnegate::regoperator::text || ' restrict=' || o.oprrest::regproc::text
        || ' join=' || o.oprjoin::regproc::text || ' merges=' || o.oprcanmerge || ' hashes=' || o.oprcanhash
        || ' owner=' || pg_get_userbyid(o.oprowner) AS line
       ${IN_SCHEMA('pg_operator', 'o', 'oprnamespace')}`,
    `SELECT 'operator family ' || n.nspname || '.' || f.opfname || ' using ' || am.amname
        || ' owner=' || pg_get_userbyid(f.opfowner)
        || ' members=' || coalesce((SELECT string_agg(m, ',' ORDER BY m) FROM (
             SELECT 'op' || ao.amopstrategy || ':' || ao.amopopr::regoperator::text || ':' || ao.amoppurpose::text
               || ':' || format_type(ao.amoplefttype, NULL) || ':' || format_type(ao.amoprighttype, NULL)
               || ':' || coalesce(ao.amopsortfamily::text <> '0', false)::text AS m FROM pg_amop ao WHERE ao.amopfamily = f.oid
             UNION ALL SELECT 'proc' || ap.amprocnum || ':' || ap.amproc::regprocedure::text
               || ':' || format_type(ap.amproclefttype, NULL) || ':' || format_type(ap.amprocrighttype, NULL)
               FROM pg_amproc ap WHERE ap.amprocfamily = f.oid) members), '-') AS line
       FROM pg_opfamily f JOIN pg_namespace n ON n.oid = f.opfnamespace JOIN pg_am am ON am.oid = f.opfmethod
       WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION('pg_opfamily', 'f.oid')}`,
    `SELECT 'operator class ' || n.nspname || '.' || c.opcname || ' using ' || am.amname
        || ' family=' || fn.nspname || '.' || f.opfname || ' type=' || format_type(c.opcintype, NULL)
        || ' default=' || c.opcdefault || ' storage=' || coalesce(format_type(nullif(c.opckeytype, 0), NULL), '-')
        || ' owner=' || pg_get_userbyid(c.opcowner) AS line
       FROM pg_opclass c JOIN pg_namespace n ON n.oid = c.opcnamespace JOIN pg_am am ON am.oid = c.opcmethod
       JOIN pg_opfamily f ON f.oid = c.opcfamily JOIN pg_namespace fn ON fn.oid = f.opfnamespace
       WHERE ${USER_SCHEMA} AND ${NOT_EXTENSION('pg_opclass', 'c.oid')}`,
    `SELECT 'text search parser ' || n.nspname || '.' || p.prsname || ' ' || concat_ws(',', p.prsstart::regproc,
        p.prstoken::regproc, p.prsend::regproc, p.prsheadline::regproc, p.prslextype::regproc) AS line
       ${IN_SCHEMA('pg_ts_parser', 'p', 'prsnamespace')}`,
    `SELECT 'text search template ' || n.nspname || '.' || t.tmplname || ' ' || t.tmplinit::regproc::text
        || ',' || t.tmpllexize::regproc::text AS line
       ${IN_SCHEMA('pg_ts_template', 't', 'tmplnamespace')}`,
    `SELECT 'text search dictionary ' || d.oid::regdictionary::text || ' template='
        || (SELECT tn.nspname || '.' || tmplname FROM pg_ts_template t JOIN pg_namespace tn ON tn.oid = t.tmplnamespace WHERE t.oid = d.dicttemplate)
        || ' options=' || coalesce(d.dictinitoption, '-') || ' owner=' || pg_get_userbyid(d.dictowner) AS line
       ${IN_SCHEMA('pg_ts_dict', 'd', 'dictnamespace')}`,
    `SELECT 'text search configuration ' || c.oid::regconfig::text || ' parser='
        || (SELECT pn.nspname || '.' || prsname FROM pg_ts_parser p JOIN pg_namespace pn ON pn.oid = p.prsnamespace WHERE p.oid = c.cfgparser)
        || ' owner=' || pg_get_userbyid(c.cfgowner)
        || ' mappings=' || coalesce((SELECT string_agg(m.maptokentype || ':' || m.mapseqno || ':' || m.mapdict::regdictionary::text,
             ',' ORDER BY m.maptokentype, m.mapseqno) FROM pg_ts_config_map m WHERE m.mapcfg = c.oid), '-') AS line
       ${IN_SCHEMA('pg_ts_config', 'c', 'cfgnamespace')}`,
    `SELECT 'statistics ' || n.nspname || '.' || s.stxname || ' def=' || pg_get_statisticsobjdef(s.oid)
        || ' target=' || coalesce(s.stxstattarget::int, -1) || ' owner=' || pg_get_userbyid(s.stxowner) AS line
       ${IN_SCHEMA('pg_statistic_ext', 's', 'stxnamespace')}`,
    `SELECT 'event trigger ' || et.evtname || ' event=' || et.evtevent || ' function=' || et.evtfoid::regprocedure::text
        || ' enabled=' || et.evtenabled::text || ' tags=' || coalesce(array_to_string(et.evttags, ','), '-')
        || ' owner=' || pg_get_userbyid(et.evtowner) AS line
       FROM pg_event_trigger et WHERE ${NOT_EXTENSION('pg_event_trigger', 'et.oid')}`,
    `SELECT 'foreign data wrapper ' || w.fdwname || ' handler=' || w.fdwhandler::regproc::text
        || ' validator=' || w.fdwvalidator::regproc::text || ' options=' || ${OPTIONS('w.fdwoptions')}
        || ' owner=' || pg_get_userbyid(w.fdwowner) || ' acl=' || coalesce(w.fdwacl::text, '-') AS line
       FROM pg_foreign_data_wrapper w WHERE ${NOT_EXTENSION('pg_foreign_data_wrapper', 'w.oid')}`,
    `SELECT 'server ' || s.srvname || ' wrapper=' || w.fdwname || ' type=' || coalesce(s.srvtype, '-')
        || ' version=' || coalesce(s.srvversion, '-') || ' options=' || ${OPTIONS('s.srvoptions')}
        || ' owner=' || pg_get_userbyid(s.srvowner) || ' acl=' || coalesce(s.srvacl::text, '-') AS line
       FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw
       WHERE ${NOT_EXTENSION('pg_foreign_server', 's.oid')}`,
    `SELECT 'language ' || l.lanname || ' trusted=' || l.lanpltrusted || ' handler=' || l.lanplcallfoid::regprocedure::text
        || ' inline=' || l.laninline::regprocedure::text || ' validator=' || l.lanvalidator::regprocedure::text
        || ' owner=' || pg_get_userbyid(l.lanowner) || ' acl=' || coalesce(l.lanacl::text, '-') AS line
       FROM pg_language l WHERE l.lanispl AND l.oid >= 16384 AND ${NOT_EXTENSION('pg_language', 'l.oid')}`,
    `SELECT 'transform ' || format_type(t.trftype, NULL) || ' language=' || l.lanname
        || ' from=' || t.trffromsql::regprocedure::text || ' to=' || t.trftosql::regprocedure::text AS line
       FROM pg_transform t JOIN pg_language l ON l.oid = t.trflang
       WHERE t.oid >= 16384 AND ${NOT_EXTENSION('pg_transform', 't.oid')}`,
    `SELECT 'user mapping ' || u.usename || ' server=' || u.srvname || ' options=' || ${OPTIONS('u.umoptions')} AS line
       FROM pg_user_mappings u`,
    `SELECT 'foreign table ' || ft.ftrelid::regclass::text || ' server=' || s.srvname || ' options=' || ${OPTIONS('ft.ftoptions')}
        || ' columns=' || coalesce((SELECT string_agg(a.attname || ':' || ${OPTIONS('a.attfdwoptions')}, ',' ORDER BY a.attnum)
             FROM pg_attribute a WHERE a.attrelid = ft.ftrelid AND a.attnum > 0 AND NOT a.attisdropped), '-') AS line
       FROM pg_foreign_table ft JOIN pg_foreign_server s ON s.oid = ft.ftserver`,
  ];
}
