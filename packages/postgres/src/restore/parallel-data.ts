import { isNexusError, NexusError, type RestoreArtifact, type RunContext } from '@nexus-backup/core';
import type { Client } from 'pg';
import { bulkLoadSettings } from './bulk-load.js';
import { connectTo } from './connection.js';
import { freshTableCopy } from './fresh-table-copy.js';
import { JobBudget } from './job-budget.js';
import { runScript, type ScriptTally } from './run-script.js';
import { readSqlScript } from './sql-script-reader.js';

interface Worker {
  client: Client;
  pid: number;
  artifact?: RestoreArtifact;
}

/**
 * Loads the data artifacts of a per-table backup on up to `jobs` connections at once, each artifact
 * in its own transaction on its own connection, in the order they are submitted (the manifest's:
 * largest first). The caller opens the next artifact after `free()`, so no more than `jobs` artifact
 * streams (each holding a repository read) are open. The first failure stops the rest: their backends are
 * terminated (their transactions roll back) and their streams destroyed; it is thrown from the next
 * `free`, `submit` or `finish`.
 */
export class ParallelData {
  private readonly workers: Worker[] = [];
  private readonly seen = new Set<string>();
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly url: string,
    private readonly jobs: number,
    private readonly tally: ScriptTally,
    private readonly ctx: RunContext,
    private readonly terminate: (pids: number[]) => Promise<void>,
    /** Shared with the builds that start while data loads; by default this loader's own. */
    private readonly budget: JobBudget = new JobBudget(jobs),
    /** Called when an artifact's transaction committed: its tables' rows are in. */
    private readonly committed: (artifact: RestoreArtifact) => void = () => {},
  ) {
    ctx.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.stop(new NexusError('ABORTED', 'the restore was aborted', { provider: 'postgres' }));
  };

  /**
   * Resolves once a connection is free, so the next artifact is opened only then (at most `jobs`
   * artifact streams are open); rejects with the first failure.
   */
  async free(): Promise<void> {
    while (this.failure === undefined && !this.canLoad()) await this.nextChange();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Starts loading `artifact` once a connection is free; rejects with the first failure. */
  async submit(artifact: RestoreArtifact): Promise<void> {
    while (this.failure === undefined && !this.canLoad()) await this.nextChange();
    if (this.failure !== undefined) {
      artifact.stream.destroy();
      throw this.failure;
    }
    // Taken before a new connection is awaited, so no build takes the slot meanwhile.
    this.budget.take();
    let worker = this.workers.find((candidate) => candidate.artifact === undefined);
    if (worker === undefined) {
      try {
        worker = await this.connect();
      } catch (error) {
        this.budget.give();
        artifact.stream.destroy();
        throw error;
      }
    }
    if (this.failure !== undefined) {
      this.budget.give();
      artifact.stream.destroy();
      throw this.failure;
    }
    worker.artifact = artifact;
    void this.load(worker, artifact);
  }

  /** Stops the loads with another part's failure (a build that started while data loads). */
  abortWith(failure: Error): void {
    this.stop(failure);
  }

  /** Waits until every submitted artifact is loaded and committed; throws the first failure. */
  async finish(): Promise<void> {
    while (this.failure === undefined && this.busy() > 0) await this.nextChange();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Stops whatever still loads and closes the connections. */
  async close(): Promise<void> {
    this.ctx.signal.removeEventListener('abort', this.onAbort);
    if (this.busy() > 0)
      this.stop(new NexusError('ABORTED', 'the restore stopped', { provider: 'postgres' }));
    await Promise.all(this.workers.map((worker) => worker.client.end().catch(() => {})));
  }

  private canLoad(): boolean {
    return this.busy() < this.jobs && this.budget.canLoad();
  }

  private busy(): number {
    return this.workers.filter((worker) => worker.artifact !== undefined).length;
  }

  private async connect(): Promise<Worker> {
    const client = await connectTo(this.url);
    // A terminated backend (after another job failed) reports here; the load itself rejects.
    client.on('error', () => {});
    const worker: Worker = { client, pid: 0 };
    this.workers.push(worker);
    for (const sql of bulkLoadSettings(this.jobs)) await client.query(sql);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid');
    worker.pid = rows[0]?.pid ?? 0;
    return worker;
  }

  private async load(worker: Worker, artifact: RestoreArtifact): Promise<void> {
    const { client } = worker;
    const started = Date.now();
    try {
      await client.query('BEGIN');
      await runScript(client, readSqlScript(artifact.stream), this.ctx, this.tally, {
        inTransaction: true,
        copySql: (event) => freshTableCopy(client, event, this.seen),
      });
      await client.query('COMMIT');
      this.ctx.log.debug(`[postgres] loaded ${artifact.name} in ${Date.now() - started} ms`);
      worker.artifact = undefined;
      this.committed(artifact);
    } catch (error) {
      this.stop(this.failure === undefined ? naming(artifact.name, error) : this.failure);
    } finally {
      this.budget.give();
      this.wake?.();
    }
  }

  /** Records the first failure, then ends the other loads: their backends and their streams. */
  private stop(failure: Error): void {
    if (this.failure !== undefined) return;
    this.failure = failure;
    this.budget.changed();
    const running = this.workers.filter((worker) => worker.artifact !== undefined);
    for (const worker of running) worker.artifact?.stream.destroy();
    const pids = running.map((worker) => worker.pid).filter((pid) => pid > 0);
    if (pids.length > 0) void this.terminate(pids).catch(() => {});
    this.wake?.();
  }

  /** A load ended, a failure, or (shared budget) a build ended. */
  private nextChange(): Promise<void> {
    const own = new Promise<void>((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
    return Promise.race([own, this.budget.next()]);
  }
}

/** A failure's message names the artifact, since line numbers count from that artifact's start. */
function naming(artifact: string, error: unknown): Error {
  if (!isNexusError(error)) {
    return new NexusError('IO', `${artifact}: ${(error as Error).message}`, {
      provider: 'postgres',
      cause: error,
    });
  }
  if (error.message.includes(artifact)) return error;
  return new NexusError(error.code, `${artifact}: ${error.message}`, {
    provider: error.provider,
    cause: error.cause ?? error,
    hint: error.hint,
  });
}
