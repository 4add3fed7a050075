import {
  type DrillCheck,
  type DrillOptions,
  type DrillReport,
  type Json,
  NexusError,
  type RestoreArtifact,
  type RunContext,
} from '@nexus-backup/core';
import { PROVIDER } from '../dump/connection.js';
import { storedDatabaseLocale } from '../dump/database-locale.js';
import { connectTo } from '../restore/connection.js';
import { restoreSql } from '../restore/index.js';
import { compareObjectCounts, compareRowCounts, runConfiguredChecks } from './compare-restored.js';
import { createScratchDatabase, dropDeadScratchDatabases } from './scratch-database.js';

/**
 * A postgres restore drill: a new scratch database on the server of `options.db`, the backup restored
 * into it in one transaction, then row counts, object counts and the configured checks compared with
 * what the dump recorded; the scratch database is dropped whatever happens (failure, abort).
 */
export async function drillDatabase(
  ctx: RunContext,
  artifact: RestoreArtifact,
  options: DrillOptions,
): Promise<DrillReport> {
  const server = options.db;
  const meta = artifact.meta;
  try {
    if (!server) {
      throw new NexusError('USAGE', 'a postgres drill needs a server to restore into', {
        provider: PROVIDER,
        hint: 'pass --db postgresql://user@host:5432/postgres (the user needs CREATEDB); the drill creates and drops its own database there',
      });
    }
    if (meta.dataOnly === true) {
      throw new NexusError(
        'USAGE',
        'a data-only backup needs its schema first, so it cannot be drilled alone',
        {
          provider: PROVIDER,
          hint: 'drill a backup of the schema and data',
        },
      );
    }
    await dropDeadScratchDatabases(server, ctx.log);
  } catch (error) {
    artifact.stream.destroy();
    throw error;
  }
  const scratch = await createScratchDatabase(
    server,
    options.pipeline,
    storedDatabaseLocale(meta.locale),
  ).catch((error: unknown) => {
    artifact.stream.destroy();
    throw error;
  });
  ctx.log.info(`drill: restoring ${options.pipeline}@${options.backupId} into "${scratch.name}"`);
  try {
    const started = Date.now();
    await restoreSql({ input: artifact.stream, target: { db: scratch.url }, singleTransaction: true, ctx });
    const restoreMs = Date.now() - started;
    ctx.signal.throwIfAborted();
    const client = await connectTo(scratch.url);
    // Ending the connection stops a long count or check at once; the drop in `finally` follows.
    const onAbort = () => void client.end().catch(() => undefined);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    try {
      const notes: string[] = [];
      const checks: DrillCheck[] = [];
      const rows = isObject(meta.rows) ? meta.rows : undefined;
      if (meta.schemaOnly === true) notes.push('a schema-only backup: no row counts to compare');
      else if (rows) checks.push(...(await compareRowCounts(client, rows)));
      else notes.push('row counts were not recorded at backup time (an older nexus-backup): not compared');
      if (isObject(meta.objects)) checks.push(...(await compareObjectCounts(client, meta.objects)));
      else if (typeof meta.objectsNotCounted === 'string')
        notes.push(`object counts were not recorded (${meta.objectsNotCounted}): not compared`);
      else notes.push('object counts were not recorded at backup time (an older nexus-backup): not compared');
      checks.push(...(await runConfiguredChecks(client, options.checks)));
      ctx.signal.throwIfAborted();
      return { checks, notes, restoreMs, facts: facts(checks) };
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
      await client.end().catch(() => undefined);
    }
  } finally {
    try {
      await scratch.drop();
    } catch (error) {
      ctx.log.warn(
        `could not drop the scratch database "${scratch.name}": ${(error as Error).message}; the next drill on this server drops it`,
      );
    }
  }
}

function facts(checks: DrillCheck[]): string[] {
  const rows = checks.filter((check) => check.name.startsWith('rows '));
  const objects = checks.filter((check) => check.name.startsWith('objects '));
  const sum = (list: DrillCheck[]) =>
    list.reduce((total, check) => total + (typeof check.actual === 'number' ? check.actual : 0), 0);
  const result = [`${rows.length} table(s), ${sum(rows)} row(s)`];
  if (objects.length > 0) result.push(`${sum(objects)} object(s) of ${objects.length} kind(s)`);
  return result;
}

function isObject(value: Json | undefined): value is { [key: string]: Json } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
