import { type DumpObject, dumpObject, identity, type ObjectKind } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

interface Row {
  oid: number;
  name: string;
  sql: string;
}

/** Text search parsers, templates, dictionaries and configurations (with their mappings), as pg_dump writes them. */
export async function readTextSearch(reader: CatalogReader): Promise<DumpObject[]> {
  const inSchema = (catalog: string, alias: string, namespace: string) =>
    `JOIN pg_catalog.pg_namespace n ON n.oid = ${alias}.${namespace}
     WHERE ${userSchema('n.nspname')} AND ${notFromExtension(catalog, `${alias}.oid`)}`;
  const fn = (column: string) => `${column}::pg_catalog.regproc::text`;
  const parsers = await reader.rows<Row>(`
    SELECT p.oid, n.nspname || '.' || p.prsname AS name,
      pg_catalog.format('CREATE TEXT SEARCH PARSER %I.%I (\n    START = %s,\n    GETTOKEN = %s,\n    END = %s,\n    LEXTYPES = %s%s\n)',
        n.nspname, p.prsname, ${fn('p.prsstart')}, ${fn('p.prstoken')}, ${fn('p.prsend')}, ${fn('p.prslextype')},
        CASE WHEN p.prsheadline <> 0 THEN ',\n    HEADLINE = ' || ${fn('p.prsheadline')} ELSE '' END) AS sql
    FROM pg_catalog.pg_ts_parser p ${inSchema('pg_ts_parser', 'p', 'prsnamespace')}`);
  const templates = await reader.rows<Row>(`
    SELECT t.oid, n.nspname || '.' || t.tmplname AS name,
      pg_catalog.format('CREATE TEXT SEARCH TEMPLATE %I.%I (\n    %sLEXIZE = %s\n)', n.nspname, t.tmplname,
        CASE WHEN t.tmplinit <> 0 THEN 'INIT = ' || ${fn('t.tmplinit')} || E',\n    ' ELSE '' END, ${fn('t.tmpllexize')}) AS sql
    FROM pg_catalog.pg_ts_template t ${inSchema('pg_ts_template', 't', 'tmplnamespace')}`);
  const dictionaries = await reader.rows<Row>(`
    SELECT d.oid, n.nspname || '.' || d.dictname AS name,
      pg_catalog.format('CREATE TEXT SEARCH DICTIONARY %I.%I (\n    TEMPLATE = %I.%I%s\n)', n.nspname, d.dictname,
        tn.nspname, t.tmplname, CASE WHEN d.dictinitoption IS NOT NULL THEN E',\n    ' || d.dictinitoption ELSE '' END) AS sql
    FROM pg_catalog.pg_ts_dict d JOIN pg_catalog.pg_ts_template t ON t.oid = d.dicttemplate
    JOIN pg_catalog.pg_namespace tn ON tn.oid = t.tmplnamespace ${inSchema('pg_ts_dict', 'd', 'dictnamespace')}`);
  // CREATE with the parser gives an empty configuration; one ADD MAPPING per token type fills it.
  const configurations = await reader.rows<Row>(`
    SELECT c.oid, n.nspname || '.' || c.cfgname AS name,
      pg_catalog.format('CREATE TEXT SEARCH CONFIGURATION %I.%I (\n    PARSER = %I.%I\n);\n', n.nspname, c.cfgname, pn.nspname, p.prsname)
      || COALESCE((SELECT pg_catalog.string_agg(pg_catalog.format(E'ALTER TEXT SEARCH CONFIGURATION %I.%I\n    ADD MAPPING FOR %s WITH %s;\n',
             n.nspname, c.cfgname, m.token, m.dictionaries), '' ORDER BY m.maptokentype)
           FROM (SELECT mm.maptokentype,
               (SELECT tt.alias FROM pg_catalog.ts_token_type(c.cfgparser) tt WHERE tt.tokid = mm.maptokentype) AS token,
               pg_catalog.string_agg(mm.mapdict::pg_catalog.regdictionary::text, ', ' ORDER BY mm.mapseqno) AS dictionaries
             FROM pg_catalog.pg_ts_config_map mm WHERE mm.mapcfg = c.oid GROUP BY mm.maptokentype) m), '') AS sql
    FROM pg_catalog.pg_ts_config c JOIN pg_catalog.pg_ts_parser p ON p.oid = c.cfgparser
    JOIN pg_catalog.pg_namespace pn ON pn.oid = p.prsnamespace ${inSchema('pg_ts_config', 'c', 'cfgnamespace')}`);
  const objects = (catalog: string, kind: ObjectKind, rows: Row[]) =>
    rows.map((row) =>
      dumpObject({
        key: identity(catalog, row.oid),
        kind,
        section: 'pre-data',
        name: row.name,
        sql: statement(row.sql),
        identities: [identity(catalog, row.oid)],
      }),
    );
  return [
    ...objects('pg_ts_parser', 'text-search-parser', parsers),
    ...objects('pg_ts_template', 'text-search-template', templates),
    ...objects('pg_ts_dict', 'text-search-dictionary', dictionaries),
    ...objects('pg_ts_config', 'text-search-configuration', configurations),
  ];
}
