import { randomBytes } from 'node:crypto';
import type { Logger } from '@nexus-backup/core';
import type pg from 'pg';
import type { DatabaseLocale } from '../dump/database-locale.js';
import { connectTo } from '../restore/connection.js';
import { createDatabase, dropDatabase } from '../restore/target-database.js';

/** Every scratch database starts with this, so a later drill can find the ones a dead run left. */
export const SCRATCH_PREFIX = 'nexus_drill_';

/** A leftover younger than this may belong to a drill that is just connecting to it. */
const LEFTOVER_GRACE_MS = 60_000;

/** `nexus_drill_<pipeline>_<YYYYMMDDHHMMSS>_<hex>`, at most 63 bytes (NAMEDATALEN). */
export function scratchDatabaseName(pipeline: string, now: Date = new Date()): string {
  const stamp = now.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const suffix = `_${stamp}_${randomBytes(3).toString('hex')}`;
  const name = pipeline.replace(/[^a-z0-9_]/g, '_').slice(0, 63 - SCRATCH_PREFIX.length - suffix.length);
  return `${SCRATCH_PREFIX}${name}${suffix}`;
}

function scratchTime(name: string): Date | undefined {
  const match = /_(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})_[0-9a-f]{6}$/.exec(name);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match;
  return new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
}

/** A scratch database that exists from `create` until `drop`, with a connection that marks it alive. */
export interface ScratchDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/**
 * Creates the scratch database and keeps one idle connection on it until it is dropped: a scratch
 * database nobody is connected to belongs to a drill that died (killed, host crashed), and the next
 * drill on that server drops it.
 */
export async function createScratchDatabase(
  serverUrl: string,
  pipeline: string,
  /** The backed-up database's encoding and locale: the copy is checked as a restore would make it. */
  locale?: DatabaseLocale,
): Promise<ScratchDatabase> {
  const name = scratchDatabaseName(pipeline);
  const url = await createDatabase(serverUrl, name, locale);
  let guard: pg.Client | undefined;
  try {
    guard = await connectTo(url);
  } catch (error) {
    await dropDatabase(serverUrl, name).catch(() => undefined);
    throw error;
  }
  return {
    name,
    url,
    async drop() {
      await guard?.end().catch(() => undefined);
      await dropDatabase(serverUrl, name);
    },
  };
}

/** Drops the scratch databases of drills that died; a failure to drop one is only worth a warning. */
export async function dropDeadScratchDatabases(
  serverUrl: string,
  log: Logger,
  now: Date = new Date(),
): Promise<string[]> {
  const client = await connectTo(serverUrl);
  let candidates: string[];
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT d.datname FROM pg_catalog.pg_database d
        WHERE d.datname LIKE '${SCRATCH_PREFIX.replace(/_/g, '\\_')}%'
          AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_stat_activity a WHERE a.datid = d.oid)
        ORDER BY 1`,
    );
    candidates = rows
      .map((row) => row.datname)
      .filter((name) => {
        const time = scratchTime(name);
        return time !== undefined && now.getTime() - time.getTime() > LEFTOVER_GRACE_MS;
      });
  } finally {
    await client.end().catch(() => undefined);
  }
  const dropped: string[] = [];
  for (const name of candidates) {
    try {
      await dropDatabase(serverUrl, name);
      dropped.push(name);
      log.info(`dropped the scratch database "${name}" a drill that did not finish left behind`);
    } catch (error) {
      log.warn(`could not drop the leftover scratch database "${name}": ${(error as Error).message}`);
    }
  }
  return dropped;
}
