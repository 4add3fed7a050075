import type { DumpObject } from '../model.js';
import type { CatalogReader } from './query.js';

/** Object kinds the dump does not write, each counted so the user is told instead of surprised. */
function unsupportedKinds(): [string, string][] {
  return [
    ['publication', 'SELECT count(*) FROM pg_catalog.pg_publication'],
    ['large object', 'SELECT count(*) FROM pg_catalog.pg_largeobject_metadata'],
  ];
}

/** Warns once per unsupported kind present in the database; writes nothing. */
export async function warnUnsupported(reader: CatalogReader): Promise<DumpObject[]> {
  const kinds = unsupportedKinds();
  const [row] = await reader.rows<Record<string, string>>(
    `SELECT ${kinds.map(([, sql], index) => `(${sql}) AS k${index}`).join(', ')}`,
  );
  kinds.forEach(([kind], index) => {
    const count = Number(row?.[`k${index}`] ?? 0);
    if (count > 0)
      reader.warn(
        `${count} ${kind}${count === 1 ? '' : 's'} not dumped: the postgres source does not support them yet`,
      );
  });
  return [];
}
