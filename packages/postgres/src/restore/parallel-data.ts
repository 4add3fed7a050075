import { isNexusError, NexusError, type RestoreArtifact, type RunContext } from '@nexus-backup/core';
import type { Client } from 'pg';
import { bulkLoadSettings } from './bulk-load.js';
import { connectTo } from './connection.js';
import { freshTableCopy } from './fresh-table-copy.js';
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
 * largest first). `submit` waits for a free connection, so no more than `jobs` artifact streams (each
 * holding a repository read) are open. The first failure stops the rest: their backends are
 * terminated (their transactions roll back) and their streams destroyed; it is thrown from the next
 * `submit`, `race` or `finish`.
 */
export class ParallelData {
  private readonly workers: Worker[] = [];
  private readonly seen = new Set<string>();
  private failure: Error | undefined;
  private readonly failed: Promise<never>;
  private fail!: (error: Error) => void;
  private wake: (() => void) | undefined;

  constructor(
    private readonly url: string,
    private readonly jobs: number,
    private readonly tally: ScriptTally,
    private readonly ctx: RunContext,
    private readonly terminate: (pids: number[]) => Promise<void>,
  ) {
    this.failed = new Promise<never>((_, reject) => {
      this.fail = reject;
    });
    this.failed.catch(() => {});
    ctx.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.stop(new NexusError('ABORTED', 'the restore was aborted', { provider: 'postgres' }));
  };

  /** Starts loading `artifact` once a connection is free; rejects with the first failure. */
  async submit(artifact: RestoreArtifact): Promise<void> {
    while (this.failure === undefined && this.busy() >= this.jobs) await this.nextChange();
    if (this.failure !== undefined) {
      artifact.stream.destroy();
      throw this.failure;
    }
    let worker = this.workers.find((candidate) => candidate.artifact === undefined);
    if (worker === undefined) {
      try {
        worker = await this.connect();
      } catch (error) {
        artifact.stream.destroy();
        throw error;
      }
    }
    worker.artifact = artifact;
    void this.load(worker, artifact);
  }

  /** `work` (e.g. reading the next artifact), or the first failure of a load if that comes first. */
  race<T>(work: Promise<T>): Promise<T> {
    return Promise.race([work, this.failed]);
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
    } catch (error) {
      this.stop(this.failure === undefined ? naming(artifact.name, error) : this.failure);
    } finally {
      this.wake?.();
    }
  }

  /** Records the first failure, then ends the other loads: their backends and their streams. */
  private stop(failure: Error): void {
    if (this.failure !== undefined) return;
    this.failure = failure;
    this.fail(failure);
    const running = this.workers.filter((worker) => worker.artifact !== undefined);
    for (const worker of running) worker.artifact?.stream.destroy();
    const pids = running.map((worker) => worker.pid).filter((pid) => pid > 0);
    if (pids.length > 0) void this.terminate(pids).catch(() => {});
    this.wake?.();
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
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
