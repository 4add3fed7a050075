import { NexusError, type RunContext } from '@nexus-backup/core';

/** A live link to the server: an ssh2 session or an OpenSSH master. */
export interface Connection {
  readonly alive: boolean;
}

/**
 * One connection attempt, given up when `signal` aborts; rejects with a NexusError, `retryable` set
 * when another attempt may succeed (a refused or reset connection, a timeout).
 */
export type ConnectAttempt<C> = (signal: AbortSignal) => Promise<C>;

interface Parked {
  attempt: Promise<unknown>;
  /** Gives the attempt up, or ends its connection, when nobody took it over. */
  discard(): Promise<void>;
}

/**
 * Head starts not taken over yet, by the options of their repository. A global symbol, not a
 * module-local map: the CLI and its registry may load separate copies of this package.
 */
const PARKED = Symbol.for('nexus-backup.sftp.parked-connections');
const registry = globalThis as { [PARKED]?: Map<string, Parked> };
registry[PARKED] ??= new Map();
const parked: Map<string, Parked> = registry[PARKED];

/** Destinations with equal options reach the same server the same way, so they may share a head start. */
export function connectionKey(options: object): string {
  return JSON.stringify(options);
}

/**
 * Connects a destination to its server, starting when the destination is created rather than at its
 * first operation: the TCP connect, the SSH handshake and the login (a login shell for
 * `transport=ssh`) then overlap what the program does in between. The CLI opens the repositories
 * named on its command line before it loads its commands; the operations layer creates the same
 * repository again later, and that destination takes over the connection begun for the first one
 * instead of connecting a second time (they share the options, so the same server, login and host
 * key check). The head start is one attempt; its failure counts as the first of the `retries`.
 */
export class ConnectionHeadStart<C extends Connection> {
  private readonly abort = new AbortController();
  private own: Parked | undefined;

  constructor(
    private readonly key: string,
    private readonly connect: ConnectAttempt<C>,
    private readonly end: (connection: C) => Promise<void>,
    private readonly retries: number,
  ) {}

  /** Starts connecting, unless a head start for the same repository is already waiting to be taken. */
  begin(): void {
    if (parked.has(this.key)) return;
    const attempt = this.connect(this.abort.signal);
    attempt.catch(() => {}); // the operation that takes it over reports the failure
    this.own = {
      attempt,
      discard: async () => {
        this.abort.abort();
        const connection = await attempt.catch(() => undefined);
        if (connection) await this.end(connection);
      },
    };
    parked.set(this.key, this.own);
  }

  /**
   * A connection for an operation: the waiting head start when there is one, else a new one; network
   * failures are retried with backoff up to `retries` times, a refused host key or login never.
   */
  open(ctx: RunContext): Promise<C> {
    const waiting = parked.get(this.key);
    parked.delete(this.key);
    return connectWithRetries(this.connect, this.end, this.retries, ctx, waiting?.attempt as Promise<C>);
  }

  /** Ends this destination's head start if no operation took it over. */
  async close(): Promise<void> {
    const own = this.own;
    this.own = undefined;
    if (own && parked.get(this.key) === own) {
      parked.delete(this.key);
      await own.discard();
    }
  }
}

/**
 * Connects with `connect`, retrying network failures with backoff up to `retries` times (a refused
 * host key or login fails at once). `first`, an attempt already under way, counts as the first try.
 */
export async function connectWithRetries<C>(
  connect: ConnectAttempt<C>,
  end: (connection: C) => Promise<void>,
  retries: number,
  ctx: RunContext,
  first?: Promise<C>,
): Promise<C> {
  let attempt = 0;
  let next = first;
  for (;;) {
    ctx.signal.throwIfAborted();
    const trying = next ?? connect(ctx.signal);
    next = undefined;
    try {
      return await untilAborted(trying, ctx.signal, end);
    } catch (error) {
      const failure = error as NexusError & { retryable?: boolean };
      if (!failure.retryable || attempt >= retries || ctx.signal.aborted) throw failure;
      attempt++;
      ctx.log.warn(`[sftp] ${failure.message}; retrying (${attempt}/${retries})`);
      await sleep(500 * 2 ** (attempt - 1), ctx.signal);
    }
  }
}

/** Waits for `attempt` unless `signal` aborts first; a connection that arrives after that is ended. */
function untilAborted<C>(
  attempt: Promise<C>,
  signal: AbortSignal,
  end: (connection: C) => Promise<void>,
): Promise<C> {
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      attempt.then((connection) => end(connection)).catch(() => {});
      reject(new NexusError('ABORTED', 'the operation was aborted', { provider: 'sftp' }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    attempt.then(
      (connection) => {
        signal.removeEventListener('abort', onAbort);
        resolve(connection);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(new NexusError('ABORTED', 'the operation was aborted', { provider: 'sftp' }));
      },
      { once: true },
    );
  });
}
