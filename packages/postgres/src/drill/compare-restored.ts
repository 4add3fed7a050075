import type { DrillCheck, Json } from '@nexus-backup/core';
import type pg from 'pg';
import { countObjectsByKind } from '../dump/object-counts.js';

/**
 * Each table's rows in the restored database against the rows COPY wrote at backup time (`meta.rows`,
 * keyed `schema.table` like the dump names them). `FROM ONLY`: COPY TO reads no inheritance children.
 */
export async function compareRowCounts(
  client: pg.Client,
  recorded: { [table: string]: Json },
): Promise<DrillCheck[]> {
  const { rows } = await client.query<{ name: string; qname: string }>(`
    SELECT n.nspname || '.' || c.relname AS name, pg_catalog.format('%I.%I', n.nspname, c.relname) AS qname
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
    WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' AND n.nspname !~ '^pg_'`);
  const restored = new Map(rows.map((row) => [row.name, row.qname]));
  const checks: DrillCheck[] = [];
  for (const [table, expected] of Object.entries(recorded).sort(([a], [b]) => a.localeCompare(b))) {
    const name = `rows ${table}`;
    const qname = restored.get(table);
    if (qname === undefined) {
      checks.push({ name, ok: false, expected, problem: `table ${table} is missing after the restore` });
      continue;
    }
    const counted = await client.query<{ count: string }>(`SELECT count(*) AS count FROM ONLY ${qname}`);
    const actual = Number(counted.rows[0]?.count ?? 0);
    checks.push(
      actual === expected
        ? { name, ok: true, expected, actual }
        : {
            name,
            ok: false,
            expected,
            actual,
            problem: `table ${table} has ${actual} rows after the restore, the backup recorded ${String(expected)}`,
          },
    );
  }
  return checks;
}

/** Every kind counted at backup time and every kind found now, so an extra object is a difference too. */
export async function compareObjectCounts(
  client: pg.Client,
  recorded: { [kind: string]: Json },
): Promise<DrillCheck[]> {
  const restored = await countObjectsByKind(client);
  const kinds = [...new Set([...Object.keys(recorded), ...Object.keys(restored)])].sort();
  return kinds.map((kind) => {
    const expected = recorded[kind] ?? 0;
    const actual = restored[kind] ?? 0;
    const name = `objects ${kind}`;
    if (actual === expected) return { name, ok: true, expected, actual };
    return {
      name,
      ok: false,
      expected,
      actual,
      problem: `${actual} ${kind} object(s) after the restore, the backup recorded ${String(expected)}`,
    };
  });
}

/**
 * The pipeline's own checks (`drill: { checks: [...] }`), each one query that must return true, run
 * read only with the server's default search_path, as an application would query the database.
 */
export async function runConfiguredChecks(client: pg.Client, queries: string[]): Promise<DrillCheck[]> {
  const checks: DrillCheck[] = [];
  for (const query of queries) {
    const name = `check ${query}`;
    try {
      await client.query('BEGIN READ ONLY');
      const result = await client.query({ text: query, rowMode: 'array' });
      const value = (result.rows[0] as unknown[] | undefined)?.[0];
      checks.push(
        value === true
          ? { name, ok: true, actual: true }
          : {
              name,
              ok: false,
              expected: true,
              actual: describeValue(value),
              problem: `check "${query}" returned ${describeValue(value)}, not true`,
            },
      );
    } catch (error) {
      checks.push({
        name,
        ok: false,
        expected: true,
        problem: `check "${query}" failed: ${(error as Error).message}`,
      });
    } finally {
      await client.query('ROLLBACK').catch(() => undefined);
    }
  }
  return checks;
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'no row';
  if (value === null) return 'null';
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}
