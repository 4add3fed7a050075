import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/** Functions and procedures through pg_get_functiondef, aggregates rebuilt from pg_aggregate. */
export async function readFunctions(reader: CatalogReader): Promise<DumpObject[]> {
  const rows = await reader.rows<{ oid: number; name: string; prokind: string; definition: string | null }>(`
    SELECT p.oid, p.prokind,
      n.nspname || '.' || p.proname || '(' || pg_catalog.pg_get_function_identity_arguments(p.oid) || ')' AS name,
      CASE WHEN p.prokind <> 'a' THEN pg_catalog.pg_get_functiondef(p.oid) END AS definition
    FROM pg_catalog.pg_proc p JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_proc', 'p.oid')}
      -- Range and multirange constructors come with their type.
      AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d WHERE d.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
        AND d.objid = p.oid AND d.deptype = 'i')
    ORDER BY n.nspname, p.proname, p.oid`);
  const objects: DumpObject[] = [];
  for (const row of rows) {
    const isAggregate = row.prokind === 'a';
    const sql = isAggregate ? await aggregateDefinition(reader, row.oid) : statement(row.definition ?? '');
    objects.push(
      dumpObject({
        key: identity('pg_proc', row.oid),
        kind: isAggregate ? 'aggregate' : 'function',
        section: 'pre-data',
        name: row.name,
        sql,
        identities: [identity('pg_proc', row.oid)],
      }),
    );
  }
  return objects;
}

interface AggregateRow {
  qname: string;
  args: string;
  aggkind: string;
  options: string;
}

async function aggregateDefinition(reader: CatalogReader, oid: number): Promise<string> {
  const fn = (column: string) => `CASE WHEN a.${column} <> 0 THEN a.${column}::pg_catalog.regproc::text END`;
  const [row] = await reader.rows<AggregateRow>(
    `SELECT pg_catalog.format('%I.%I', n.nspname, p.proname) AS qname,
       pg_catalog.pg_get_function_arguments(p.oid) AS args, a.aggkind,
       pg_catalog.concat_ws(E',\\n    ',
         'SFUNC = ' || ${fn('aggtransfn')},
         'STYPE = ' || pg_catalog.format_type(a.aggtranstype, NULL),
         CASE WHEN a.aggtransspace <> 0 THEN 'SSPACE = ' || a.aggtransspace END,
         'FINALFUNC = ' || ${fn('aggfinalfn')},
         CASE WHEN a.aggfinalextra THEN 'FINALFUNC_EXTRA' END,
         CASE WHEN a.aggfinalmodify <> CASE WHEN a.aggkind = 'n' THEN 'r' ELSE 'w' END
           THEN 'FINALFUNC_MODIFY = ' || CASE a.aggfinalmodify WHEN 'r' THEN 'READ_ONLY' WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END END,
         'COMBINEFUNC = ' || ${fn('aggcombinefn')},
         'SERIALFUNC = ' || ${fn('aggserialfn')},
         'DESERIALFUNC = ' || ${fn('aggdeserialfn')},
         'INITCOND = ' || pg_catalog.quote_literal(a.agginitval),
         'MSFUNC = ' || ${fn('aggmtransfn')},
         'MINVFUNC = ' || ${fn('aggminvtransfn')},
         CASE WHEN a.aggmtranstype <> 0 THEN 'MSTYPE = ' || pg_catalog.format_type(a.aggmtranstype, NULL) END,
         CASE WHEN a.aggmtransspace <> 0 THEN 'MSSPACE = ' || a.aggmtransspace END,
         'MFINALFUNC = ' || ${fn('aggmfinalfn')},
         CASE WHEN a.aggmfinalextra THEN 'MFINALFUNC_EXTRA' END,
         CASE WHEN a.aggmtransfn <> 0 AND a.aggmfinalmodify <> CASE WHEN a.aggkind = 'n' THEN 'r' ELSE 'w' END
           THEN 'MFINALFUNC_MODIFY = ' || CASE a.aggmfinalmodify WHEN 'r' THEN 'READ_ONLY' WHEN 's' THEN 'SHAREABLE' ELSE 'READ_WRITE' END END,
         'MINITCOND = ' || pg_catalog.quote_literal(a.aggminitval),
         (SELECT 'SORTOP = OPERATOR(' || pg_catalog.quote_ident(opn.nspname) || '.' || o.oprname || ')'
            FROM pg_catalog.pg_operator o JOIN pg_catalog.pg_namespace opn ON opn.oid = o.oprnamespace
            WHERE o.oid = a.aggsortop),
         CASE p.proparallel WHEN 's' THEN 'PARALLEL = SAFE' WHEN 'r' THEN 'PARALLEL = RESTRICTED' END,
         CASE WHEN a.aggkind = 'h' THEN 'HYPOTHETICAL' END) AS options
     FROM pg_catalog.pg_aggregate a
     JOIN pg_catalog.pg_proc p ON p.oid = a.aggfnoid
     JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
     WHERE a.aggfnoid = $1`,
    [oid],
  );
  if (!row) throw new Error(`aggregate ${oid} vanished`);
  return statement(`CREATE AGGREGATE ${row.qname}(${row.args || '*'}) (\n    ${row.options}\n)`);
}
