import { NexusError, type RestoreArtifact, type RunContext } from '@nexus-backup/core';
import type { Client } from 'pg';
import { connectTo } from './connection.js';
import type { JobBudget } from './job-budget.js';
import type { EarlyStatement } from './post-data-plan.js';
import { statementFailed } from './run-script.js';

interface Entry {
  statement: EarlyStatement;
  state: 'waiting' | 'running' | 'done';
}

interface Worker {
  client: Client;
  pid: number;
  running?: Entry;
}

/**
 * Runs the index and key builds and foreign keys of post-data while the data still loads, like
 * `pg_restore -j`: a build once every data artifact holding its table has committed, a foreign key
 * once both tables' rows are in and every early build on them (the referenced key among them) is
 * done, a key's attach once its index is built. Within the restore's `jobs` (the budget shared with
 * the data loads), never two statements at once where one locks a table the other uses (a key, its
 * attach or a foreign key locks its tables exclusively), so no lock waits and no lock-order deadlock.
 * The first failure stops the running statements (their backends are terminated) and is handed to
 * `onFailure` (which stops the data loads) and thrown from `finish`.
 */
export class EarlyPostData {
  private readonly workers: Worker[] = [];
  private readonly entries: Entry[];
  private readonly entryOf = new Map<EarlyStatement, Entry>();
  /** Data artifacts not yet committed, per table they hold. */
  private readonly loading = new Map<string, number>();
  /** Early builds not yet done, per table. */
  private readonly buildsLeft = new Map<string, number>();
  private dataLeft: number;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  /** Statements that started while some data artifact was not yet committed (the report's proof of overlap). */
  startedDuringData = 0;
  /** The most statements that ran at once on one table (the report's proof that a table's builds ran side by side). */
  mostOnOneTable = 0;

  private constructor(
    statements: EarlyStatement[],
    data: readonly RestoreArtifact[],
    private readonly budget: JobBudget,
    private readonly ctx: RunContext,
    private readonly terminate: (pids: number[]) => Promise<void>,
    private readonly onFailure: (failure: Error) => void,
  ) {
    this.entries = statements.map((statement) => ({ statement, state: 'waiting' }));
    for (const entry of this.entries) this.entryOf.set(entry.statement, entry);
    for (const { statement } of this.entries) {
      if (statement.foreignKey) continue;
      for (const table of statement.tables) this.buildsLeft.set(table, (this.buildsLeft.get(table) ?? 0) + 1);
    }
    for (const artifact of data) {
      for (const table of tablesOf(artifact)) this.loading.set(table, (this.loading.get(table) ?? 0) + 1);
    }
    this.dataLeft = data.length;
    ctx.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /**
   * Opens up to `jobs` connections (as many as there are statements), each running `setup` first, and
   * hooks into `budget`: a ready statement takes a freed slot before the next data artifact does.
   */
  static async open(
    url: string,
    jobs: number,
    setup: string[],
    statements: EarlyStatement[],
    data: readonly RestoreArtifact[],
    budget: JobBudget,
    ctx: RunContext,
    terminate: (pids: number[]) => Promise<void>,
    onFailure: (failure: Error) => void,
  ): Promise<EarlyPostData> {
    const runner = new EarlyPostData(statements, data, budget, ctx, terminate, onFailure);
    const connections = Math.min(jobs, statements.length);
    try {
      await Promise.all(Array.from({ length: connections }, () => runner.connect(url, setup)));
    } catch (error) {
      await runner.close();
      throw error;
    }
    budget.buildWaiting = () => runner.nextRunnable() !== undefined;
    budget.onFree = () => runner.dispatch();
    runner.dispatch();
    return runner;
  }

  /** The script's statements: a key built as its index and then its attach counts once. */
  get statementCount(): number {
    return this.entries.filter((entry) => entry.statement.after === undefined).length;
  }

  /** A data artifact's transaction committed: the statements waiting only for its tables may start. */
  committed(artifact: RestoreArtifact): void {
    for (const table of tablesOf(artifact)) {
      const left = (this.loading.get(table) ?? 1) - 1;
      if (left > 0) this.loading.set(table, left);
      else this.loading.delete(table);
    }
    this.dataLeft--;
    this.dispatch();
  }

  /** Waits, once every data artifact is in, until every statement ran; throws the first failure. */
  async finish(): Promise<void> {
    for (;;) {
      if (this.failure !== undefined) throw this.failure;
      if (this.entries.every((entry) => entry.state === 'done')) return;
      this.dispatch();
      if (!this.workers.some((worker) => worker.running) && this.nextRunnable() === undefined) {
        throw new NexusError('INTERNAL', 'post-data statements wait for nothing that is still running', {
          provider: 'postgres',
        });
      }
      await this.nextChange();
    }
  }

  /** Stops what still runs and closes the connections. */
  async close(): Promise<void> {
    this.ctx.signal.removeEventListener('abort', this.onAbort);
    this.budget.buildWaiting = () => false;
    this.budget.onFree = () => {};
    const running = this.runningPids();
    if (running.length > 0) await this.terminate(running).catch(() => {});
    await Promise.all(this.workers.map((worker) => worker.client.end().catch(() => {})));
  }

  private readonly onAbort = (): void => {
    this.fail(new NexusError('ABORTED', 'the restore was aborted', { provider: 'postgres' }));
  };

  private async connect(url: string, setup: string[]): Promise<void> {
    const client = await connectTo(url);
    const worker: Worker = { client, pid: 0 };
    this.workers.push(worker);
    // A terminated backend (after another job failed) reports here; the statement itself rejects.
    client.on('error', () => {});
    for (const sql of setup) await client.query(sql);
    const { rows } = await client.query<{ pid: number }>('SELECT pg_catalog.pg_backend_pid() AS pid');
    worker.pid = rows[0]?.pid ?? 0;
  }

  /** Starts ready statements on free connections while the budget has room. */
  private dispatch(): void {
    while (this.failure === undefined && this.budget.canBuild()) {
      const worker = this.workers.find((candidate) => candidate.running === undefined && candidate.pid > 0);
      const entry = worker && this.nextRunnable();
      if (worker === undefined || entry === undefined) return;
      this.budget.take();
      entry.state = 'running';
      worker.running = entry;
      if (this.dataLeft > 0) this.startedDuringData++;
      this.noteAtOnce(entry);
      void this.run(worker, entry);
    }
  }

  private async run(worker: Worker, entry: Entry): Promise<void> {
    const { event, foreignKey, tables } = entry.statement;
    try {
      this.ctx.signal.throwIfAborted();
      await worker.client.query(event.sql);
      entry.state = 'done';
      if (!foreignKey)
        for (const table of tables) this.buildsLeft.set(table, (this.buildsLeft.get(table) ?? 1) - 1);
    } catch (error) {
      worker.running = undefined;
      this.fail(this.failure ?? statementFailed(event, error));
    } finally {
      worker.running = undefined;
      this.budget.give();
      this.dispatch();
      this.wake?.();
    }
  }

  /** The first statement in script order whose data is in, whose keys are built, and that locks nothing in use. */
  private nextRunnable(): Entry | undefined {
    if (this.failure !== undefined || !this.workers.some((w) => w.running === undefined && w.pid > 0))
      return undefined;
    return this.entries.find(
      (entry) => entry.state === 'waiting' && this.ready(entry) && !this.conflicts(entry),
    );
  }

  private ready(entry: Entry): boolean {
    const { tables, foreignKey, after } = entry.statement;
    if (tables.some((table) => this.loading.has(table))) return false;
    if (after !== undefined && this.entryOf.get(after)?.state !== 'done') return false;
    return !foreignKey || tables.every((table) => (this.buildsLeft.get(table) ?? 0) === 0);
  }

  private conflicts(entry: Entry): boolean {
    const { work } = entry.statement;
    for (const worker of this.workers) {
      const running = worker.running?.statement.work;
      if (!running) continue;
      const theirs = [...running.exclusive, ...running.shared];
      if (work.exclusive.some((table) => theirs.includes(table))) return true;
      if (work.shared.some((table) => running.exclusive.includes(table))) return true;
    }
    return false;
  }

  /** Counts, per table of a statement just started, the statements running on it. */
  private noteAtOnce(entry: Entry): void {
    for (const table of entry.statement.tables) {
      const running = this.workers.filter((worker) =>
        worker.running?.statement.tables.includes(table),
      ).length;
      this.mostOnOneTable = Math.max(this.mostOnOneTable, running);
    }
  }

  private fail(failure: Error): void {
    if (this.failure !== undefined) return;
    this.failure = failure;
    const running = this.runningPids();
    if (running.length > 0) void this.terminate(running).catch(() => {});
    this.onFailure(failure);
    this.budget.changed();
    this.wake?.();
  }

  private runningPids(): number[] {
    return this.workers.filter((worker) => worker.running && worker.pid > 0).map((worker) => worker.pid);
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

function tablesOf(artifact: RestoreArtifact): string[] {
  const tables = artifact.meta.tables;
  return Array.isArray(tables) ? tables.filter((table): table is string => typeof table === 'string') : [];
}
