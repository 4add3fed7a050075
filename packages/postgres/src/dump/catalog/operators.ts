import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/** `OPERATOR(schema.op)`: how CREATE OPERATOR names another operator. */
const operatorReference = (oid: string) =>
  `(SELECT 'OPERATOR(' || pg_catalog.quote_ident(rn.nspname) || '.' || r.oprname || ')'
     FROM pg_catalog.pg_operator r JOIN pg_catalog.pg_namespace rn ON rn.oid = r.oprnamespace WHERE r.oid = ${oid})`;
const procedure = (oid: string) =>
  `(SELECT pg_catalog.format('%I.%I', fn.nspname, f.proname) FROM pg_catalog.pg_proc f
     JOIN pg_catalog.pg_namespace fn ON fn.oid = f.pronamespace WHERE f.oid = ${oid})`;

/** User-defined operators, like pg_dump's dumpOpr. */
export async function readOperators(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; name: string; qname: string; options: string }>(`
    SELECT o.oid, n.nspname || '.' || o.oprname || '(' || COALESCE(pg_catalog.format_type(NULLIF(o.oprleft, 0), NULL), 'NONE')
        || ', ' || COALESCE(pg_catalog.format_type(NULLIF(o.oprright, 0), NULL), 'NONE') || ')' AS name,
      pg_catalog.quote_ident(n.nspname) || '.' || o.oprname AS qname,
      pg_catalog.concat_ws(E',\\n    ',
        'FUNCTION = ' || ${procedure('o.oprcode')},
        'LEFTARG = ' || pg_catalog.format_type(NULLIF(o.oprleft, 0), NULL),
        'RIGHTARG = ' || pg_catalog.format_type(NULLIF(o.oprright, 0), NULL),
        'COMMUTATOR = ' || ${operatorReference('NULLIF(o.oprcom, 0)')},
        'NEGATOR = ' || ${operatorReference('NULLIF(o.oprnegate, 0)')},
        CASE WHEN o.oprcanmerge THEN 'MERGES' END,
        CASE WHEN o.oprcanhash THEN 'HASHES' END,
        'RESTRICT = ' || ${procedure('NULLIF(o.oprrest, 0)')},
        'JOIN = ' || ${procedure('NULLIF(o.oprjoin, 0)')}) AS options
    FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace n ON n.oid = o.oprnamespace
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_operator', 'o.oid')}
      -- A shell operator (named as a commutator, never defined) is created by the one that names it.
      AND o.oprcode <> 0
    ORDER BY n.nspname, o.oprname, o.oid`);
  return rows.map((row) =>
    dumpObject({
      key: identity('pg_operator', row.oid),
      kind: 'operator',
      section: 'pre-data',
      name: row.name,
      sql: statement(`CREATE OPERATOR ${row.qname} (\n    ${row.options}\n)`),
      identities: [identity('pg_operator', row.oid)],
    }),
  );
}

interface Member {
  oid: number;
  catalog: 'pg_amop' | 'pg_amproc';
  owner: number;
  /** The catalog of the owner: pg_opclass or pg_opfamily. */
  ref: string;
  item: string;
}

/**
 * The operators and support functions of operator classes and families. A member belongs to the
 * class that created it (pg_depend 'i' on the class) or, loose, to its family ('a' on the family).
 */
async function readMembers(reader: CatalogReader): Promise<Member[]> {
  return reader.rows<Member>(`
    SELECT ao.oid, 'pg_amop' AS catalog, d.refobjid AS owner, d.refclassid::pg_catalog.regclass::text AS ref,
      'OPERATOR ' || ao.amopstrategy || ' ' || ao.amopopr::pg_catalog.regoperator::text
        || CASE WHEN ao.amoppurpose = 'o' THEN ' FOR ORDER BY ' || pg_catalog.format('%I.%I', sn.nspname, sf.opfname) ELSE '' END AS item
    FROM pg_catalog.pg_amop ao
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_amop'::pg_catalog.regclass AND d.objid = ao.oid
      AND d.refclassid IN ('pg_catalog.pg_opclass'::pg_catalog.regclass, 'pg_catalog.pg_opfamily'::pg_catalog.regclass)
    LEFT JOIN pg_catalog.pg_opfamily sf ON sf.oid = ao.amopsortfamily
    LEFT JOIN pg_catalog.pg_namespace sn ON sn.oid = sf.opfnamespace
    WHERE ao.oid >= 16384
    UNION ALL
    SELECT ap.oid, 'pg_amproc', d.refobjid, d.refclassid::pg_catalog.regclass::text,
      'FUNCTION ' || ap.amprocnum || ' (' || pg_catalog.format_type(ap.amproclefttype, NULL) || ', '
        || pg_catalog.format_type(ap.amprocrighttype, NULL) || ') ' || ap.amproc::pg_catalog.regprocedure::text
    FROM pg_catalog.pg_amproc ap
    JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_amproc'::pg_catalog.regclass AND d.objid = ap.oid
      AND d.refclassid IN ('pg_catalog.pg_opclass'::pg_catalog.regclass, 'pg_catalog.pg_opfamily'::pg_catalog.regclass)
    WHERE ap.oid >= 16384
    ORDER BY 1`);
}

/**
 * Operator families (CREATE, then ALTER ... ADD for their loose members) and operator classes
 * (CREATE with their own members), like pg_dump's dumpOpfamily and dumpOpclass.
 */
export async function readOperatorClasses(reader: CatalogReader): Promise<DumpObject[]> {
  const members = await readMembers(reader);
  const membersOf = (catalog: string, owner: number) =>
    members.filter((member) => member.ref === catalog && member.owner === owner);
  const families = await reader.rows<{ oid: number; name: string; qname: string; amname: string }>(`
    SELECT f.oid, n.nspname || '.' || f.opfname || ' USING ' || am.amname AS name,
      pg_catalog.format('%I.%I', n.nspname, f.opfname) AS qname, pg_catalog.quote_ident(am.amname) AS amname
    FROM pg_catalog.pg_opfamily f JOIN pg_catalog.pg_namespace n ON n.oid = f.opfnamespace
    JOIN pg_catalog.pg_am am ON am.oid = f.opfmethod
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_opfamily', 'f.oid')}
    ORDER BY 2`);
  const classes = await reader.rows<{
    oid: number;
    name: string;
    qname: string;
    head: string;
    intype: string;
  }>(`
    SELECT c.oid, n.nspname || '.' || c.opcname || ' USING ' || am.amname AS name,
      pg_catalog.format('%I.%I', n.nspname, c.opcname) AS qname, pg_catalog.format_type(c.opcintype, NULL) AS intype,
      CASE WHEN c.opcdefault THEN 'DEFAULT ' ELSE '' END || 'FOR TYPE ' || pg_catalog.format_type(c.opcintype, NULL)
        || ' USING ' || pg_catalog.quote_ident(am.amname) || ' FAMILY ' || pg_catalog.format('%I.%I', fn.nspname, f.opfname)
        || CASE WHEN c.opckeytype <> 0 THEN E' AS\\n    STORAGE ' || pg_catalog.format_type(c.opckeytype, NULL) ELSE ' AS' END AS head
    FROM pg_catalog.pg_opclass c JOIN pg_catalog.pg_namespace n ON n.oid = c.opcnamespace
    JOIN pg_catalog.pg_am am ON am.oid = c.opcmethod
    JOIN pg_catalog.pg_opfamily f ON f.oid = c.opcfamily JOIN pg_catalog.pg_namespace fn ON fn.oid = f.opfnamespace
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_opclass', 'c.oid')}
    ORDER BY 2`);
  const objects: DumpObject[] = [];
  for (const family of families) {
    const loose = membersOf('pg_opfamily', family.oid);
    let sql = statement(`CREATE OPERATOR FAMILY ${family.qname} USING ${family.amname}`);
    if (loose.length > 0) {
      sql += statement(
        `ALTER OPERATOR FAMILY ${family.qname} USING ${family.amname} ADD\n    ${loose.map((m) => m.item).join(',\n    ')}`,
      );
    }
    objects.push(
      dumpObject({
        key: identity('pg_opfamily', family.oid),
        kind: 'operator-family',
        section: 'pre-data',
        name: family.name,
        sql,
        identities: [identity('pg_opfamily', family.oid), ...loose.map((m) => identity(m.catalog, m.oid))],
      }),
    );
  }
  for (const opclass of classes) {
    const own = membersOf('pg_opclass', opclass.oid);
    const hasStorage = opclass.head.includes('STORAGE');
    const items = own.map((m) => m.item);
    // The grammar wants at least one item; STORAGE of the input type itself is a no-op.
    if (items.length === 0 && !hasStorage) items.push(`STORAGE ${opclass.intype}`);
    const body = items.length === 0 ? '' : `${hasStorage ? ',' : ''}\n    ${items.join(',\n    ')}`;
    objects.push(
      dumpObject({
        key: identity('pg_opclass', opclass.oid),
        kind: 'operator-class',
        section: 'pre-data',
        name: opclass.name,
        sql: statement(`CREATE OPERATOR CLASS ${opclass.qname}\n    ${opclass.head}${body}`),
        identities: [identity('pg_opclass', opclass.oid), ...own.map((m) => identity(m.catalog, m.oid))],
      }),
    );
  }
  return objects;
}
