import { NexusError } from '@nexus-backup/core';
import type pg from 'pg';
import { connect, PROVIDER } from './connection.js';
import { SESSION_SETTINGS } from './snapshot.js';

/**
 * The connections that read table data: the snapshot's own one plus workers that import its exported
 * snapshot (`SET TRANSACTION SNAPSHOT`), so every connection sees the same instant, like pg_dump -j.
 * A data artifact takes one for as long as it streams.
 */
export class DumpConnections {
  private readonly idle: pg.Client[];
  private readonly waiting: ((client: pg.Client) => void)[] = [];
  private closed = false;

  private constructor(
    private readonly main: pg.Client,
    private readonly all: pg.Client[],
  ) {
    this.idle = [...all];
  }

  /** `workers` connections beside `main`, each in a read-only transaction on `snapshotId`. */
  static async open(
    main: pg.Client,
    db: string,
    snapshotId: string,
    workers: number,
  ): Promise<DumpConnections> {
    const opened = await Promise.allSettled(
      Array.from({ length: workers }, () => openWorker(db, snapshotId)),
    );
    const clients = opened.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    const failed = opened.find((result) => result.status === 'rejected');
    if (failed?.status === 'rejected') {
      await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
      throw failed.reason;
    }
    return new DumpConnections(main, [main, ...clients]);
  }

  /** Whether `client` is the snapshot's own connection, which holds the table locks already. */
  isMain(client: pg.Client): boolean {
    return client === this.main;
  }

  async acquire(signal: AbortSignal): Promise<pg.Client> {
    signal.throwIfAborted();
    if (this.closed) throw new Error('the dump connections are closed');
    const client = this.idle.pop();
    if (client) return client;
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        this.waiting.splice(this.waiting.indexOf(take), 1);
        reject(signal.reason);
      };
      const take = (next: pg.Client) => {
        signal.removeEventListener('abort', onAbort);
        resolve(next);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(take);
    });
  }

  release(client: pg.Client): void {
    const next = this.waiting.shift();
    if (next) next(client);
    else this.idle.push(client);
  }

  /** Ends every connection, and with them the snapshot's transaction and its locks. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const client of this.all) void client.end().catch(() => undefined);
  }
}

async function openWorker(db: string, snapshotId: string): Promise<pg.Client> {
  const client = await connect(db, 'nexus-backup dump');
  try {
    await client.query(SESSION_SETTINGS);
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    await client.query(`SET TRANSACTION SNAPSHOT '${snapshotId.replaceAll("'", "''")}'`);
    return client;
  } catch (error) {
    await client.end().catch(() => undefined);
    throw error;
  }
}

/**
 * A worker locks each table before reading it, without waiting, like pg_dump -j: if some session
 * already queues for an exclusive lock behind the snapshot's own ACCESS SHARE lock, waiting here
 * would deadlock with the dump itself, so the dump fails instead, naming the table.
 */
export async function lockForWorker(client: pg.Client, table: string, name: string): Promise<void> {
  try {
    await client.query(`LOCK TABLE ${table} IN ACCESS SHARE MODE NOWAIT`);
  } catch (error) {
    if ((error as { code?: string }).code !== '55P03') throw error;
    throw new NexusError(
      'IO',
      `another session is waiting for an exclusive lock on ${name}, so a parallel dump cannot read it`,
      {
        provider: PROVIDER,
        cause: error,
        hint: 'run the backup again when the DDL is done, or pass --jobs 1 (one connection waits instead)',
      },
    );
  }
}
