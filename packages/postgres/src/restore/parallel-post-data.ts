import { NexusError, type RunContext } from '@nexus-backup/core';
import type { Client } from 'pg';
import { connectTo } from './connection.js';
import type { PostDataWork } from './post-data-statement.js';

interface Job {
  sql: string;
  work: PostDataWork;
  /** Turns a failure into the restore's error (naming the script line). */
  fail: (error: unknown) => Error;
}

interface Worker {
  client: Client;
  pid: number;
  busy?: { job: Job; done: Promise<void> };
}

/**
 * Runs index, key and foreign-key builds on `jobs` connections of their own, like `pg_restore -j`
 * does for post-data. Statements of one group (consecutive in the script) run side by side, never two
 * on a table that one of them locks exclusively; `barrier()` waits for all of them, so everything else
 * keeps the script's order. The first failure stops the others' running statements (`cancel` ends
 * their connections on the server) and is thrown from the next submit or barrier. Only for a database
 * of its own (createDb): nothing here is one transaction.
 */
export class ParallelPostData {
  private readonly workers: Worker[] = [];
  private readonly queue: Job[] = [];
  private group: PostDataWork['group'] | undefined;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  private constructor(
    private readonly ctx: RunContext,
    private readonly cancel: (pids: number[]) => Promise<void>,
  ) {
    ctx.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private readonly onAbort = (): void => {
    this.failure ??= new NexusError('ABORTED', 'the restore was aborted', { provider: 'postgres' });
    const running = this.workers.filter((worker) => worker.busy).map((worker) => worker.pid);
    if (running.length > 0) void this.cancel(running).catch(() => {});
    this.wake?.();
  };

  /** Opens `jobs` connections to `url`, each running `setup` (the script's settings) first. */
  static async open(
    url: string,
    jobs: number,
    setup: string[],
    ctx: RunContext,
    cancel: (pids: number[]) => Promise<void>,
  ): Promise<ParallelPostData> {
    const runner = new ParallelPostData(ctx, cancel);
    try {
      for (let i = 0; i < jobs; i++) {
        const client = await connectTo(url);
        runner.workers.push({ client, pid: 0 });
        client.on('error', () => {});
        for (const sql of setup) await client.query(sql);
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        (runner.workers.at(-1) as Worker).pid = rows[0]?.pid ?? 0;
      }
    } catch (error) {
      await runner.close();
      throw error;
    }
    return runner;
  }

  /** Queues one statement; waits first for the other group's statements when the group changes. */
  async submit(sql: string, work: PostDataWork, fail: (error: unknown) => Error): Promise<void> {
    if (this.group !== undefined && this.group !== work.group) await this.barrier();
    this.group = work.group;
    this.queue.push({ sql, work, fail });
    this.dispatch();
    // Bounded: the script is not read further ahead than one statement per connection.
    while (this.failure === undefined && this.queue.length > this.workers.length) await this.nextChange();
    this.throwIfFailed();
  }

  /** Waits until every queued statement ran; throws the first failure. */
  async barrier(): Promise<void> {
    while (this.failure === undefined && (this.queue.length > 0 || this.workers.some((w) => w.busy))) {
      await this.nextChange();
    }
    this.group = undefined;
    this.throwIfFailed();
  }

  /** Stops whatever still runs and closes the connections. */
  async close(): Promise<void> {
    this.ctx.signal.removeEventListener('abort', this.onAbort);
    const running = this.workers.filter((worker) => worker.busy).map((worker) => worker.pid);
    if (running.length > 0) await this.cancel(running).catch(() => {});
    // Not waiting for running statements: they were stopped, and a failed createDb drops the database.
    await Promise.all(this.workers.map((worker) => worker.client.end().catch(() => {})));
  }

  private dispatch(): void {
    if (this.failure !== undefined) return;
    for (const worker of this.workers) {
      if (worker.busy) continue;
      const index = this.queue.findIndex((job) => !this.conflicts(job));
      if (index < 0) return;
      const [job] = this.queue.splice(index, 1) as [Job];
      // Marked busy before run() starts: a run that fails at once clears it in its finally.
      const busy = { job, done: Promise.resolve() };
      worker.busy = busy;
      busy.done = this.run(worker, job);
    }
  }

  private async run(worker: Worker, job: Job): Promise<void> {
    try {
      this.ctx.signal.throwIfAborted();
      await worker.client.query(job.sql);
    } catch (error) {
      if (this.failure === undefined) {
        this.failure = job.fail(error);
        const others = this.workers.filter((w) => w !== worker && w.busy).map((w) => w.pid);
        if (others.length > 0) await this.cancel(others).catch(() => {});
      }
    } finally {
      worker.busy = undefined;
      this.dispatch();
      this.wake?.();
    }
  }

  /** True when the job would lock a table that a running statement locks in a conflicting mode. */
  private conflicts(job: Job): boolean {
    for (const worker of this.workers) {
      const running = worker.busy?.job.work;
      if (!running) continue;
      const theirs = [...running.exclusive, ...running.shared];
      if (job.work.exclusive.some((table) => theirs.includes(table))) return true;
      if (job.work.shared.some((table) => running.exclusive.includes(table))) return true;
    }
    return false;
  }

  private nextChange(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        this.wake = undefined;
        resolve();
      };
    });
  }

  private throwIfFailed(): void {
    if (this.failure !== undefined) throw this.failure;
  }
}
