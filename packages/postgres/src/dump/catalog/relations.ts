import { type DumpObject, dumpObject, identity } from '../model.js';
import { optionsClause } from './foreign-data.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';
import { SEQUENCE_COLUMNS, type SequenceParameters, sequenceOptions } from './sequence-options.js';
import { type CheckRow, readTableChecks, separateCheck } from './table-checks.js';
import { readViewStubs } from './view-stubs.js';

interface RelationRow {
  oid: number;
  relkind: string;
  relname: string;
  nspname: string;
  parent_oid: number | null;
  name: string;
  qname: string;
  relpersistence: string;
  relispartition: boolean;
  relispopulated: boolean;
  relreplident: string;
  /** A typed table's composite type (CREATE TABLE ... OF type); null for others. */
  oftype: string | null;
  options: string | null;
  amname: string | null;
  partkey: string | null;
  partbound: string | null;
  partition_parent: string | null;
  parents: string[];
  viewdef: string | null;
  /** Foreign tables: a `SERVER name` line and its OPTIONS clause. */
  foreign: string | null;
}

interface ColumnRow {
  attrelid: number;
  attnum: number;
  attname: string;
  quoted: string;
  type: string;
  attnotnull: boolean;
  attislocal: boolean;
  attidentity: string;
  attgenerated: string;
  generated: string | null;
  collation: string | null;
  statistics: number;
  storage: string | null;
  /** `n_distinct=-0.5, ...`: what ALTER COLUMN ... SET (...) set; null when nothing. */
  attribute_options: string | null;
  /** pglz or lz4 when set on the column (PostgreSQL 14+); null for the server's default. */
  compression: string | null;
  parent_notnull: boolean;
  /** A parent's column of the same name is generated (its expression comes through INHERITS). */
  parent_generated: boolean;
  notnull_name: string | null;
  /** PostgreSQL 18+: the NOT NULL constraint was added NOT VALID (then it is added after the data). */
  notnull_invalid: boolean;
  /** PostgreSQL 18+: the NOT NULL constraint is NO INHERIT. */
  notnull_noinherit: boolean;
  fdw_options: string;
}

interface IdentityRow extends SequenceParameters {
  table_oid: number;
  attnum: number;
  seqname: string;
  /** The sequence's own persistence: it follows its table's when created, ALTER SEQUENCE may change it (15+). */
  seqpersistence: string;
}

/** Tables, partitions, views, materialized views and sequences, with their columns and defaults. */
export async function readRelations(reader: CatalogReader): Promise<DumpObject[]> {
  const relations = await reader.rows<RelationRow>(`
    SELECT c.oid, c.relkind, c.relname, n.nspname, n.nspname || '.' || c.relname AS name,
      (SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid = c.oid AND c.relispartition) AS parent_oid,
      pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname,
      c.relpersistence, c.relispartition, c.relispopulated, c.relreplident,
      CASE WHEN c.reloftype <> 0 THEN pg_catalog.format_type(c.reloftype, NULL) END AS oftype,
      -- The TOAST table's own storage parameters go in the same WITH, as toast.name (like pg_dump).
      pg_catalog.array_to_string(c.reloptions || ARRAY(SELECT 'toast.' || o FROM pg_catalog.pg_class t,
        pg_catalog.unnest(t.reloptions) AS o WHERE t.oid = c.reltoastrelid), ', ') AS options,
      -- A partitioned table has an access method only when given one (17+), heap included.
      CASE WHEN (c.relkind IN ('r', 'm') AND am.amname <> 'heap') OR (c.relkind = 'p' AND c.relam <> 0)
        THEN pg_catalog.quote_ident(am.amname) END AS amname,
      CASE WHEN c.relkind = 'p' THEN pg_catalog.pg_get_partkeydef(c.oid) END AS partkey,
      CASE WHEN c.relispartition THEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) END AS partbound,
      (SELECT pg_catalog.format('%I.%I', pn.nspname, p.relname) FROM pg_catalog.pg_inherits i
         JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
         WHERE i.inhrelid = c.oid AND c.relispartition) AS partition_parent,
      ARRAY(SELECT pg_catalog.format('%I.%I', pn.nspname, p.relname) FROM pg_catalog.pg_inherits i
         JOIN pg_catalog.pg_class p ON p.oid = i.inhparent JOIN pg_catalog.pg_namespace pn ON pn.oid = p.relnamespace
         WHERE i.inhrelid = c.oid AND NOT c.relispartition ORDER BY i.inhseqno) AS parents,
      CASE WHEN c.relkind IN ('v', 'm') THEN pg_catalog.pg_get_viewdef(c.oid) END AS viewdef,
      (SELECT pg_catalog.format(E'\nSERVER %I', fs.srvname) || ${optionsClause('ft.ftoptions')}
         FROM pg_catalog.pg_foreign_table ft JOIN pg_catalog.pg_foreign_server fs ON fs.oid = ft.ftserver
         WHERE ft.ftrelid = c.oid) AS foreign
    FROM pg_catalog.pg_class c
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
    WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND ${userSchema('n.nspname')}
      AND ${notFromExtension('pg_class', 'c.oid')}
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
        AND d.objid = c.oid AND d.deptype = 'i' AND c.relkind = 'S')
    ORDER BY n.nspname, c.relname`);

  const columns = groupBy(await readColumns(reader), (column) => column.attrelid);
  const identities = new Map(
    (await readIdentities(reader)).map((row) => [`${row.table_oid}:${row.attnum}`, row]),
  );
  const checks = groupBy(await readTableChecks(reader), (check) => check.conrelid);
  const sequences = new Map((await readSequences(reader)).map((row) => [row.oid, row]));
  const stubs = await readViewStubs(reader);

  const objects: DumpObject[] = [];
  for (const relation of relations) {
    const base = {
      name: relation.name,
      relation: relation.oid,
      relkind: relation.relkind,
      schema: relation.nspname,
      relname: relation.relname,
      ...(relation.parent_oid !== null ? { partitionOf: relation.parent_oid } : {}),
    };
    const key = identity('pg_class', relation.oid);
    switch (relation.relkind) {
      case 'r':
      case 'p':
      case 'f': {
        const tableColumns = columns.get(relation.oid) ?? [];
        const tableChecks = checks.get(relation.oid) ?? [];
        const sql = tableDefinition(
          relation,
          tableColumns,
          identities,
          tableChecks.filter((check) => !check.separate),
          reader,
        );
        objects.push(...tableChecks.filter((check) => check.separate).map(separateCheck));
        objects.push(
          dumpObject({ ...base, key, kind: 'table', section: 'pre-data', sql, identities: [key] }),
        );
        // A foreign table's rows live elsewhere; pg_dump leaves them out too.
        if (relation.relkind === 'r') {
          const copyColumns = tableColumns
            .filter((column) => column.attgenerated === '')
            .map((column) => column.quoted);
          objects.push(
            dumpObject({
              ...base,
              key: `data:${relation.oid}`,
              kind: 'table-data',
              section: 'data',
              sql: '',
              after: [key],
              copy: { table: relation.qname, columns: copyColumns },
            }),
          );
        }
        break;
      }
      case 'v': {
        const definition = viewDefinition(relation);
        const stub = stubs.get(relation.oid);
        objects.push(
          dumpObject({
            ...base,
            key,
            kind: 'view',
            section: 'pre-data',
            sql: definition,
            identities: [key],
            ...(stub === undefined
              ? {}
              : {
                  loopStub: {
                    definition,
                    stub: statement(`CREATE VIEW ${relation.qname} AS\n${stub}`),
                    replace: definition.replace(/^CREATE VIEW /, 'CREATE OR REPLACE VIEW '),
                  },
                }),
          }),
        );
        break;
      }
      case 'm':
        objects.push(
          dumpObject({
            ...base,
            key,
            kind: 'matview',
            section: 'pre-data',
            sql: matviewDefinition(relation),
            identities: [key],
            ...(relation.relispopulated
              ? { refresh: statement(`REFRESH MATERIALIZED VIEW ${relation.qname}`) }
              : {}),
          }),
        );
        break;
      case 'S': {
        const sequence = sequences.get(relation.oid);
        if (!sequence) break;
        objects.push(
          dumpObject({
            ...base,
            key,
            kind: 'sequence',
            section: 'pre-data',
            sql: sequenceDefinition(relation, sequence),
            ...(sequence.owned_by
              ? { sqlAfterOwner: statement(`ALTER SEQUENCE ${relation.qname} OWNED BY ${sequence.owned_by}`) }
              : {}),
            identities: [key],
          }),
        );
        break;
      }
    }
  }
  return objects;
}

function tableDefinition(
  relation: RelationRow,
  columns: ColumnRow[],
  identities: Map<string, IdentityRow>,
  checks: CheckRow[],
  reader: CatalogReader,
): string {
  // A partition is created on its own and attached, so it keeps its own column order (like pg_dump).
  const own = columns.filter((column) => column.attislocal || relation.relispartition);
  const constraintsOf = (column: ColumnRow) =>
    columnConstraints(relation, column, identities, reader.version);
  // A typed table takes its columns from its composite type; only their constraints are its own.
  const lines = relation.oftype
    ? own.flatMap((column) => {
        const constraints = constraintsOf(column);
        return constraints === '' ? [] : [`${column.quoted} WITH OPTIONS${constraints}`];
      })
    : own.map((column) => columnHead(column) + constraintsOf(column));
  lines.push(...checks.map((check) => check.definition));
  const kind = relation.foreign !== null ? 'FOREIGN TABLE' : 'TABLE';
  const of = relation.oftype ? ` OF ${relation.oftype}` : '';
  let sql = `CREATE ${relation.relpersistence === 'u' ? 'UNLOGGED ' : ''}${kind} ${relation.qname}${of}`;
  if (lines.length > 0) sql += ` (\n    ${lines.join(',\n    ')}\n)`;
  else if (!relation.oftype) sql += ' ()';
  if (relation.parents.length > 0) sql += `\nINHERITS (${relation.parents.join(', ')})`;
  if (relation.foreign !== null) sql += relation.foreign;
  if (relation.partkey) sql += `\nPARTITION BY ${relation.partkey}`;
  if (relation.amname) sql += `\nUSING ${relation.amname}`;
  if (relation.options) sql += `\nWITH (${relation.options})`;
  const statements = [statement(sql)];
  if (relation.partition_parent && relation.partbound) {
    statements.push(
      statement(
        `ALTER TABLE ONLY ${relation.partition_parent} ATTACH PARTITION ${relation.qname} ${relation.partbound}`,
      ),
    );
  }
  for (const column of columns) {
    const alter = `ALTER TABLE ONLY ${relation.qname} ALTER COLUMN ${column.quoted}`;
    if (!column.attislocal && !relation.relispartition && column.attnotnull && !column.parent_notnull) {
      statements.push(statement(`${alter} SET NOT NULL`));
    }
    if (column.statistics >= 0) statements.push(statement(`${alter} SET STATISTICS ${column.statistics}`));
    if (column.storage) statements.push(statement(`${alter} SET STORAGE ${column.storage}`));
    if (column.attribute_options) statements.push(statement(`${alter} SET (${column.attribute_options})`));
    if (column.compression) statements.push(statement(`${alter} SET COMPRESSION ${column.compression}`));
    const sequence = identities.get(`${relation.oid}:${column.attnum}`);
    // An identity's sequence is created with its table's persistence (15+; before, sequences are never
    // unlogged, an unlogged table's included); it may since have been changed.
    if (
      reader.version >= 150000 &&
      column.attidentity !== '' &&
      sequence &&
      sequence.seqpersistence !== relation.relpersistence
    ) {
      const persistence = sequence.seqpersistence === 'u' ? 'UNLOGGED' : 'LOGGED';
      statements.push(statement(`ALTER SEQUENCE ${sequence.seqname} SET ${persistence}`));
    }
  }
  if (relation.relreplident === 'f')
    statements.push(statement(`ALTER TABLE ONLY ${relation.qname} REPLICA IDENTITY FULL`));
  // Foreign tables always say 'nothing' and take no REPLICA IDENTITY.
  if (relation.relreplident === 'n' && relation.foreign === null)
    statements.push(statement(`ALTER TABLE ONLY ${relation.qname} REPLICA IDENTITY NOTHING`));
  return statements.join('');
}

/** A column's name, type, foreign-data options and collation. */
function columnHead(column: ColumnRow): string {
  const head = `${column.quoted} ${column.type}${column.fdw_options}`;
  return column.collation ? `${head} COLLATE ${column.collation}` : head;
}

/** What follows a column's head: generation, identity and NOT NULL, each with its leading space. */
function columnConstraints(
  relation: RelationRow,
  column: ColumnRow,
  identities: Map<string, IdentityRow>,
  version: number,
): string {
  let sql = '';
  // Before PostgreSQL 16 an inheritance child may not state a generation expression of a generated
  // parent column: it takes the parent's through INHERITS (16+ takes the child's own, which may differ).
  const inheritsExpression = version < 160000 && column.parent_generated && !relation.relispartition;
  if (column.attgenerated === 's' && !inheritsExpression)
    sql += ` GENERATED ALWAYS AS (${column.generated}) STORED`;
  if (column.attgenerated === 'v') sql += ` GENERATED ALWAYS AS (${column.generated}) VIRTUAL`;
  // A partition shares its parent's identity on PostgreSQL 17+ (the sequence is the parent's, so it
  // has no row here); before 17 a partition attached with an identity of its own keeps its sequence.
  const identityRow = identities.get(`${relation.oid}:${column.attnum}`);
  if (column.attidentity !== '' && identityRow) {
    const kind = column.attidentity === 'a' ? 'ALWAYS' : 'BY DEFAULT';
    sql += ` GENERATED ${kind} AS IDENTITY (SEQUENCE NAME ${identityRow.seqname} ${sequenceOptions(identityRow)})`;
  }
  if (column.attnotnull && !column.notnull_invalid && (column.attislocal || relation.relispartition)) {
    // Named even when the name is the usual one (18+): PostgreSQL picks a free name in the schema, so
    // another table's constraint of that name would make the restored one `..._not_null1`.
    sql += column.notnull_name ? ` CONSTRAINT ${column.notnull_name} NOT NULL` : ' NOT NULL';
    if (column.notnull_noinherit) sql += ' NO INHERIT';
  }
  return sql;
}

function viewDefinition(relation: RelationRow): string {
  const options = relation.options ? ` WITH (${relation.options})` : '';
  return statement(`CREATE VIEW ${relation.qname}${options} AS\n${stripSemicolon(relation.viewdef)}`);
}

function matviewDefinition(relation: RelationRow): string {
  const using = relation.amname ? ` USING ${relation.amname}` : '';
  const options = relation.options ? ` WITH (${relation.options})` : '';
  return statement(
    `CREATE MATERIALIZED VIEW ${relation.qname}${using}${options} AS\n${stripSemicolon(relation.viewdef)}\nWITH NO DATA`,
  );
}

interface SequenceRow extends SequenceParameters {
  oid: number;
  owned_by: string | null;
}

function sequenceDefinition(relation: RelationRow, sequence: SequenceRow): string {
  const unlogged = relation.relpersistence === 'u' ? 'UNLOGGED ' : '';
  return statement(
    `CREATE ${unlogged}SEQUENCE ${relation.qname} AS ${sequence.seqtype} ${sequenceOptions(sequence)}`,
  );
}

function stripSemicolon(sql: string | null): string {
  return (sql ?? '').trim().replace(/;$/, '');
}

async function readColumns(reader: CatalogReader): Promise<ColumnRow[]> {
  // PostgreSQL 18 keeps NOT NULL as a constraint with a name, NOT VALID and NO INHERIT of its own.
  const notNull = (column: string) =>
    reader.version >= 180000
      ? `(SELECT ${column} FROM pg_catalog.pg_constraint nn
           WHERE nn.conrelid = a.attrelid AND nn.contype = 'n' AND nn.conkey[1] = a.attnum)`
      : 'NULL';
  const compression =
    reader.version >= 140000 ? "CASE a.attcompression WHEN 'p' THEN 'pglz' WHEN 'l' THEN 'lz4' END" : 'NULL';
  return reader.rows<ColumnRow>(`
    SELECT a.attrelid, a.attnum, a.attname, pg_catalog.quote_ident(a.attname) AS quoted,
      pg_catalog.format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull, a.attislocal, a.attidentity, a.attgenerated,
      CASE WHEN a.attgenerated <> '' THEN pg_catalog.pg_get_expr(d.adbin, d.adrelid) END AS generated,
      CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
        THEN pg_catalog.format('%I.%I', cn.nspname, co.collname) END AS collation,
      COALESCE(a.attstattarget, -1)::int AS statistics,
      CASE WHEN a.attstorage <> t.typstorage THEN
        CASE a.attstorage WHEN 'p' THEN 'PLAIN' WHEN 'e' THEN 'EXTERNAL' WHEN 'm' THEN 'MAIN' ELSE 'EXTENDED' END END AS storage,
      pg_catalog.array_to_string(a.attoptions, ', ') AS attribute_options,
      ${compression} AS compression,
      EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_attribute pa
        ON pa.attrelid = i.inhparent AND pa.attname = a.attname
        WHERE i.inhrelid = a.attrelid AND pa.attnotnull) AS parent_notnull,
      EXISTS (SELECT 1 FROM pg_catalog.pg_inherits i JOIN pg_catalog.pg_attribute pa
        ON pa.attrelid = i.inhparent AND pa.attname = a.attname
        WHERE i.inhrelid = a.attrelid AND pa.attgenerated <> '') AS parent_generated,
      ${notNull('pg_catalog.quote_ident(nn.conname)')} AS notnull_name,
      COALESCE(${notNull('NOT nn.convalidated')}, false) AS notnull_invalid,
      COALESCE(${notNull('nn.connoinherit')}, false) AS notnull_noinherit,
      ${optionsClause('a.attfdwoptions', true)} AS fdw_options
    FROM pg_catalog.pg_attribute a
    JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
    LEFT JOIN pg_catalog.pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
    LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
    WHERE c.relkind IN ('r', 'p', 'f') AND a.attnum > 0 AND NOT a.attisdropped AND ${userSchema('n.nspname')}
    ORDER BY a.attrelid, a.attnum`);
}

async function readIdentities(reader: CatalogReader): Promise<IdentityRow[]> {
  return reader.rows<IdentityRow>(`
    SELECT d.refobjid AS table_oid, d.refobjsubid AS attnum,
      pg_catalog.format('%I.%I', n.nspname, c.relname) AS seqname, c.relpersistence AS seqpersistence,
      ${SEQUENCE_COLUMNS}
    FROM pg_catalog.pg_depend d
    JOIN pg_catalog.pg_sequence s ON s.seqrelid = d.objid
    JOIN pg_catalog.pg_class c ON c.oid = s.seqrelid
    JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
      AND d.deptype = 'i'`);
}

async function readSequences(reader: CatalogReader): Promise<SequenceRow[]> {
  return reader.rows<SequenceRow>(`
    SELECT s.seqrelid AS oid, ${SEQUENCE_COLUMNS},
      (SELECT pg_catalog.format('%I.%I.%I', tn.nspname, t.relname, a.attname)
         FROM pg_catalog.pg_depend d
         JOIN pg_catalog.pg_class t ON t.oid = d.refobjid
         JOIN pg_catalog.pg_namespace tn ON tn.oid = t.relnamespace
         JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
         WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.objid = s.seqrelid
           AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass AND d.deptype = 'a') AS owned_by
    FROM pg_catalog.pg_sequence s`);
}

function groupBy<T, K>(items: T[], keyOf: (item: T) => K): Map<K, T[]> {
  const groups = new Map<K, T[]>();
  for (const item of items) {
    const key = keyOf(item);
    const group = groups.get(key);
    if (group) group.push(item);
    else groups.set(key, [item]);
  }
  return groups;
}
