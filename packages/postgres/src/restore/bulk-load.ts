import type { RunContext } from '@nexus-backup/core';
import type { Client } from 'pg';
import { ParallelPostData } from './parallel-post-data.js';
import { postDataWork } from './post-data-statement.js';
import { type ScriptHooks, statementFailed } from './run-script.js';
import type { SqlCopyEvent } from './sql-script-reader.js';
import { settingChangedBy } from './statement-text.js';

/** What the index and key builds of all connections of one restore may use together, at most. */
const MAINTENANCE_BUDGET = 1024 * 1024 * 1024;
/** Per connection: enough for the sorts of a large index build to stay in memory. */
const MAINTENANCE_PER_CONNECTION = 256 * 1024 * 1024;

/**
 * Session settings of a load into a database of its own, as a DBA would set them for a bulk load:
 * index and key builds get 256 MB of maintenance memory, less when `jobs` connections would use
 * more than 1 GB together (never less than the server's setting), and commits do not wait for the
 * WAL flush (the restore's last commit does, and the rename into place commits after it, so a
 * reported success is durable).
 */
export function bulkLoadSettings(jobs: number): string[] {
  const bytes = Math.min(MAINTENANCE_PER_CONNECTION, Math.floor(MAINTENANCE_BUDGET / Math.max(1, jobs)));
  return [
    `SELECT pg_catalog.set_config('maintenance_work_mem', greatest(pg_catalog.pg_size_bytes(pg_catalog.current_setting('maintenance_work_mem')), ${bytes}) / 1024 || 'kB', false)`,
    'SET synchronous_commit = off',
  ];
}

export interface BulkLoad {
  hooks: ScriptHooks;
  /** True once the main connection's transaction was committed to hand post-data to other connections. */
  readonly committed: boolean;
  /** Waits for the offloaded statements; throws the first failure. */
  finish(): Promise<void>;
  /** Cancels what still runs and closes the other connections. */
  close(): Promise<void>;
}

/**
 * A restore into a fresh database (createDb) on `client`, which holds the script's transaction when
 * `inTransaction`: COPY with FREEZE into plain tables created in that transaction (their rows are
 * written frozen, so no later vacuum rewrites them), and with `jobs` > 1 the post-data builds on
 * `jobs` connections of their own, the transaction committed before the first of them (the database
 * is dropped on failure, so the restore stays all or nothing).
 */
export function bulkLoad(
  client: Client,
  url: string,
  options: { jobs: number; inTransaction: boolean; ctx: RunContext },
): BulkLoad {
  const { jobs, ctx } = options;
  const settings: string[] = [];
  let inTransaction = options.inTransaction;
  let committed = false;
  let runner: ParallelPostData | undefined;
  // Terminated, not cancelled: a cancel that reaches a backend just before its statement starts is lost.
  const cancel = async (pids: number[]) => {
    await client.query('SELECT pg_catalog.pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid', [pids]);
  };

  const hooks: ScriptHooks = {
    async offload(event) {
      if (settingChangedBy(event.sql)) settings.push(event.sql);
      if (jobs <= 1) return false;
      const work = postDataWork(event.sql);
      if (!work) return false;
      if (!runner) {
        // Other connections see only committed tables.
        if (inTransaction) {
          await client.query('COMMIT');
          inTransaction = false;
          committed = true;
        }
        runner = await ParallelPostData.open(
          url,
          jobs,
          [...bulkLoadSettings(jobs), ...settings],
          ctx,
          cancel,
        );
      }
      await runner.submit(event.sql, work, (error) => statementFailed(event, error));
      return true;
    },
    async beforeLocal() {
      await runner?.barrier();
    },
    async copySql(event) {
      return inTransaction ? withFreeze(client, event) : event.sql;
    },
  };
  return {
    hooks,
    get committed() {
      return committed;
    },
    async finish() {
      await runner?.barrier();
    },
    async close() {
      await runner?.close();
    },
  };
}

const FROM_STDIN_END = /\bFROM\s+stdin\s*;?\s*$/i;

/** `COPY t (...) FROM stdin WITH (FREEZE);` for a plain table (FREEZE refuses partitioned and foreign ones). */
async function withFreeze(client: Client, event: SqlCopyEvent): Promise<string> {
  if (!FROM_STDIN_END.test(event.sql)) return event.sql;
  const { rows } = await client.query<{ relkind: string }>(
    'SELECT relkind FROM pg_catalog.pg_class WHERE oid = pg_catalog.to_regclass($1)',
    [event.table],
  );
  return rows[0]?.relkind === 'r'
    ? event.sql.replace(FROM_STDIN_END, 'FROM stdin WITH (FREEZE);')
    : event.sql;
}
