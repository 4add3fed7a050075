import { type DumpObject, dumpObject, identity } from '../model.js';
import { type CatalogReader, notFromExtension, statement, userSchema } from './query.js';

/**
 * CREATE COLLATION like pg_dump's dumpCollation: provider, deterministic, then either one `locale`
 * or `lc_collate`/`lc_ctype`, and ICU `rules` (16+). Where an ICU locale lives differs by major:
 * in collcollate up to 14, colliculocale in 15-16, colllocale from 17 (which adds the builtin provider).
 */
export async function readCollations(reader: CatalogReader): Promise<DumpObject[]> {
  const locale =
    reader.version >= 170000 ? 'c.colllocale' : reader.version >= 150000 ? 'c.colliculocale' : 'NULL';
  const rules = reader.version >= 160000 ? 'c.collicurules' : 'NULL';
  const rows = await reader.rows<{
    oid: number;
    name: string;
    qname: string;
    provider: string;
    deterministic: boolean;
    collate: string | null;
    ctype: string | null;
    locale: string | null;
    rules: string | null;
  }>(`
    SELECT c.oid, n.nspname || '.' || c.collname AS name, pg_catalog.format('%I.%I', n.nspname, c.collname) AS qname,
      c.collprovider AS provider, c.collisdeterministic AS deterministic,
      c.collcollate AS collate, c.collctype AS ctype, ${locale} AS locale, ${rules} AS rules
    FROM pg_catalog.pg_collation c JOIN pg_catalog.pg_namespace n ON n.oid = c.collnamespace
    WHERE ${userSchema('n.nspname')} AND ${notFromExtension('pg_collation', 'c.oid')}
    ORDER BY n.nspname, c.collname`);
  return rows.map((row) => {
    const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;
    const provider = { i: 'icu', c: 'libc', b: 'builtin', d: 'default' }[row.provider] ?? row.provider;
    const options = [`provider = ${provider}`];
    if (!row.deterministic) options.push('deterministic = false');
    // Up to 14 an ICU collation keeps its locale in collcollate (= collctype).
    const single = row.locale ?? (row.provider === 'i' || row.collate === row.ctype ? row.collate : null);
    if (single !== null) options.push(`locale = ${literal(single)}`);
    else options.push(`lc_collate = ${literal(row.collate ?? '')}`, `lc_ctype = ${literal(row.ctype ?? '')}`);
    if (row.rules !== null) options.push(`rules = ${literal(row.rules)}`);
    return dumpObject({
      key: identity('pg_collation', row.oid),
      kind: 'collation',
      section: 'pre-data',
      name: row.name,
      sql: statement(`CREATE COLLATION ${row.qname} (${options.join(', ')})`),
      identities: [identity('pg_collation', row.oid)],
    });
  });
}
