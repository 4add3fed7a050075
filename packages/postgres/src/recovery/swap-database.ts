import { type Json, NexusError, type OptionValues } from '@nexus-backup/core';
import type { Client } from 'pg';
import { connectTo, urlForDatabase } from '../restore/connection.js';
import { redactConnectionUrl } from '../restore/redact-url.js';
import { dropDeadTemporaryDatabases } from '../restore/target-database.js';
import { liveUrl } from './live-target.js';

/** The three names of one database recovery: live, restored beside it, and the old state moved aside. */
export interface DatabaseSwap {
  live: string;
  staged: string;
  aside: string;
}

const MAX_NAME_BYTES = 63;

export function liveDatabaseName(target: OptionValues): string {
  const url = new URL(liveUrl(target));
  const name = decodeURIComponent(url.pathname.replace(/^\//, '')) || url.searchParams.get('dbname') || '';
  if (!name) {
    throw new NexusError(
      'CONFIG',
      `the database URL ${redactConnectionUrl(liveUrl(target))} names no database`,
      {
        provider: 'postgres',
      },
    );
  }
  return name;
}

/** `<db>_recovery_<stamp>` and `<db>_before_recovery_<stamp>`, shortened to PostgreSQL's 63 bytes. */
export function planSwap(target: OptionValues, stamp: string): DatabaseSwap {
  const live = liveDatabaseName(target);
  const name = (suffix: string) => {
    const room = MAX_NAME_BYTES - Buffer.byteLength(suffix);
    return `${Buffer.from(live)
      .subarray(0, room)
      .toString()
      .replace(/\uFFFD+$/, '')}${suffix}`;
  };
  return { live, staged: name(`_recovery_${stamp}`), aside: name(`_before_recovery_${stamp}`) };
}

export function asSwap(json: { [key: string]: Json }): DatabaseSwap {
  const { live, staged, aside } = json;
  if (typeof live !== 'string' || typeof staged !== 'string' || typeof aside !== 'string') {
    throw new NexusError('INTEGRITY', 'the recovery journal entry of a database is damaged', {
      provider: 'postgres',
    });
  }
  return { live, staged, aside };
}

/** A connection to the server's maintenance database: a database cannot be renamed from inside itself. */
async function withServer<T>(target: OptionValues, use: (client: Client) => Promise<T>): Promise<T> {
  let client: Client;
  try {
    client = await connectTo(urlForDatabase(liveUrl(target), 'postgres'));
  } catch {
    client = await connectTo(urlForDatabase(liveUrl(target), 'template1'));
  }
  try {
    return await use(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function existing(client: Client, swap: DatabaseSwap): Promise<Set<string>> {
  const result = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY($1::text[])',
    [[swap.live, swap.staged, swap.aside]],
  );
  return new Set(result.rows.map((row) => row.datname));
}

export async function swapState(
  target: OptionValues,
  swap: DatabaseSwap,
): Promise<'staged' | 'swapped' | 'partial'> {
  return withServer(target, async (client) => {
    const found = await existing(client, swap);
    if (found.has(swap.staged)) return 'staged';
    return found.has(swap.live) ? 'swapped' : 'partial';
  });
}

/**
 * Renames inside one transaction, so every moment has a database under the live name (PostgreSQL
 * allows ALTER DATABASE RENAME in a transaction block). Sessions on the two databases are ended
 * first: a database in use cannot be renamed. Retried briefly when a client reconnects in between.
 */
async function renameAtomically(client: Client, renames: [string, string][], names: string[]): Promise<void> {
  const id = (name: string) => client.escapeIdentifier(name);
  for (let attempt = 1; ; attempt += 1) {
    await client.query(
      'SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity WHERE datname = ANY($1::text[]) AND pid <> pg_catalog.pg_backend_pid()',
      [names],
    );
    try {
      await client.query('BEGIN');
      for (const [from, to] of renames) await client.query(`ALTER DATABASE ${id(from)} RENAME TO ${id(to)}`);
      await client.query('COMMIT');
      return;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      // 55006: "database ... is being accessed by other users" (a client reconnected in between)
      if ((error as { code?: string }).code !== '55006' || attempt >= 10) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200 * attempt));
    }
  }
}

/** live -> aside, staged -> live; does nothing once done. */
export async function swapIn(target: OptionValues, swap: DatabaseSwap): Promise<void> {
  await withServer(target, async (client) => {
    const found = await existing(client, swap);
    if (!found.has(swap.staged)) {
      if (found.has(swap.live)) return;
      throw new NexusError(
        'NOT_FOUND',
        `neither ${swap.staged} nor ${swap.live} exists; nothing to swap in`,
        {
          provider: 'postgres',
        },
      );
    }
    const renames: [string, string][] = [];
    if (found.has(swap.live)) renames.push([swap.live, swap.aside]);
    renames.push([swap.staged, swap.live]);
    await renameAtomically(client, renames, [swap.live, swap.staged]);
  });
}

/** live -> staged, aside -> live: the state before the recovery is back under its name. */
export async function swapBack(target: OptionValues, swap: DatabaseSwap): Promise<void> {
  await withServer(target, async (client) => {
    const found = await existing(client, swap);
    if (!found.has(swap.aside)) return; // never swapped in, or already swapped back
    const renames: [string, string][] = [];
    if (found.has(swap.live)) {
      if (found.has(swap.staged)) {
        throw new NexusError('TARGET', `both ${swap.live} and ${swap.staged} exist; swap back by hand`, {
          provider: 'postgres',
        });
      }
      renames.push([swap.live, swap.staged]);
    }
    renames.push([swap.aside, swap.live]);
    await renameAtomically(client, renames, [swap.live, swap.aside]);
  });
}

async function dropIfExists(client: Client, names: string[], dryRun: boolean): Promise<string[]> {
  const result = await client.query<{ datname: string }>(
    'SELECT datname FROM pg_catalog.pg_database WHERE datname = ANY($1::text[])',
    [names],
  );
  const dropped = result.rows.map((row) => row.datname);
  if (!dryRun) {
    for (const name of dropped)
      await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
  }
  return dropped.map((name) => `database ${name}`);
}

export async function discard(target: OptionValues, swap: DatabaseSwap): Promise<void> {
  await withServer(target, (client) => dropIfExists(client, [swap.staged], false));
  // A restore killed before its rename leaves its temporary database, marked for the staged name.
  await dropDeadTemporaryDatabases(liveUrl(target), swap.staged);
}

export async function forget(target: OptionValues, swap: DatabaseSwap, dryRun: boolean): Promise<string[]> {
  return withServer(target, (client) => dropIfExists(client, [swap.staged, swap.aside], dryRun));
}

/** A `sql` health check: true when the first value of the first row is true (or 1, or 't'). */
export async function queryLive(target: OptionValues, sql: string): Promise<boolean> {
  const client = await connectTo(liveUrl(target));
  try {
    const result = await client.query({ text: sql, rowMode: 'array' });
    const value = (result.rows[0] as unknown[] | undefined)?.[0];
    return value === true || value === 1 || value === 't' || value === '1';
  } finally {
    await client.end().catch(() => undefined);
  }
}
