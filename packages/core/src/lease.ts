import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { RunContext } from './contracts.js';
import { NexusError, toNexusError } from './errors.js';
import { currentHolder, type HolderIdentity, isHolderAlive } from './lease-holder.js';
import type { Repository } from './repository.js';

/**
 * Repository leases: a run that writes or removes (backup, prune, mirror, and later drill and wal push)
 * holds `<pipeline>/.leases/<host>-<pid>-<start>.json` while it runs and renews its heartbeat. Leases
 * are shared, never exclusive: each holder writes its own key, so two writers never race on one
 * object and no conditional write is needed. Prune reads them to leave a running backup's folder alone.
 */
export const LEASE_FOLDER = '.leases';
export const LEASE_FORMAT = 'nexus-backup-lease';
/** How often a holder rewrites its lease. */
export const LEASE_HEARTBEAT_MS = 60_000;
/**
 * A lease of another host whose heartbeat is older than this is stale (ten missed heartbeats: a
 * holder on a slow link or a store with eventual listings still counts as alive).
 */
export const LEASE_STALE_MS = 10 * 60_000;

export interface LeaseRecord extends HolderIdentity {
  format: typeof LEASE_FORMAT;
  pipeline: string;
  /** What the holder does: `backup`, `prune`, `mirror`, ... */
  operation: string;
  start: string;
  heartbeat: string;
  /**
   * The backup folder the holder writes (backup), `*` for any folder of the pipeline (mirror), absent
   * when it writes none (prune): only covered folders are kept from prune.
   */
  covers?: string;
}

export interface LeaseInfo {
  key: string;
  /** Undefined when the object could not be read or parsed: judged by its modified time alone. */
  record?: LeaseRecord;
  state: 'live' | 'stale';
  /** Why, in a few words: `pid 123 on this host is running`, `heartbeat 14min old`. */
  reason: string;
  /** `backup by host pid 123 since ...`, for messages. */
  holder: string;
}

export interface LeaseOptions {
  /** See `LeaseRecord.covers`. */
  covers?: string;
  heartbeatMs?: number;
  /** The stale bound the holder protects itself against (default LEASE_STALE_MS). */
  staleMs?: number;
}

/** A held lease: renewed until `release`; `signal` aborts when renewals failed long enough to look stale. */
export interface Lease {
  readonly keys: string[];
  readonly signal: AbortSignal;
  release(): Promise<void>;
}

export function leaseKey(pipeline: string, record: Pick<LeaseRecord, 'host' | 'pid' | 'start'>): string {
  const host = record.host.replace(/[^A-Za-z0-9.-]/g, '_') || 'host';
  const start = record.start.replace(/[-:.]/g, '');
  return `${pipeline}/${LEASE_FOLDER}/${host}-${record.pid}-${start}.json`;
}

/**
 * Writes one lease per pipeline and renews them every `heartbeatMs`. Leases are written before the
 * caller touches anything, so a prune that lists a folder and then the leases always sees its lease.
 */
export async function acquireLease(
  repository: Repository,
  pipelines: readonly string[],
  operation: string,
  ctx: RunContext,
  options: LeaseOptions = {},
): Promise<Lease> {
  const holder = currentHolder();
  const start = new Date().toISOString();
  const records = pipelines.map(
    (pipeline): LeaseRecord => ({
      format: LEASE_FORMAT,
      pipeline,
      operation,
      ...holder,
      start,
      heartbeat: start,
      ...(options.covers ? { covers: options.covers } : {}),
    }),
  );
  const keys = records.map((record) => leaseKey(record.pipeline, record));
  let written = 0;
  const writeAll = async (heartbeat: string, signal: AbortSignal) => {
    for (const [index, record] of records.entries()) {
      record.heartbeat = heartbeat;
      const body = Readable.from([Buffer.from(`${JSON.stringify(record, null, 2)}\n`)]);
      await repository.destination.put(keys[index] as string, body, { ...ctx, signal });
      written = Math.max(written, index + 1);
    }
  };
  try {
    await writeAll(start, ctx.signal);
  } catch (error) {
    if (written > 0) await deleteQuietly(repository, keys.slice(0, written), ctx);
    // The destination's own error (unreachable host, refused host key, missing bucket) says it best.
    throw toNexusError(error, 'IO');
  }

  const lost = new AbortController();
  const heartbeatMs = options.heartbeatMs ?? LEASE_HEARTBEAT_MS;
  let lastRenewal = Date.now();
  let renewing: Promise<void> = Promise.resolve();
  let released = false;
  const timer = setInterval(() => {
    renewing = renewing.then(async () => {
      if (released) return;
      try {
        await writeAll(new Date().toISOString(), ctx.signal);
        lastRenewal = Date.now();
      } catch (error) {
        const silentMs = Date.now() - lastRenewal;
        ctx.log.warn(
          `could not renew the ${operation} lease in ${repository.label}: ${toNexusError(error).message}`,
        );
        // Past half the stale bound another host may soon take the lease as stale: stop before that.
        if (silentMs > (options.staleMs ?? LEASE_STALE_MS) / 2 && !lost.signal.aborted) {
          lost.abort(
            new NexusError(
              'IO',
              `lost the ${operation} lease in ${repository.label}: no renewal for ${Math.round(silentMs / 1000)}s`,
            ),
          );
        }
      }
    });
  }, heartbeatMs);
  timer.unref();

  return {
    keys,
    signal: lost.signal,
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await renewing;
      await deleteQuietly(repository, keys, ctx);
    },
  };
}

/**
 * Runs `fn` while holding a lease on `pipeline` (the core API for backup, prune, mirror, drill, wal
 * push). `fn` gets a context whose signal also aborts when the lease is lost.
 */
export async function withLease<T>(
  repository: Repository,
  pipeline: string | readonly string[],
  operation: string,
  ctx: RunContext,
  fn: (ctx: RunContext, lease: Lease) => Promise<T>,
  options: LeaseOptions = {},
): Promise<T> {
  const pipelines = typeof pipeline === 'string' ? [pipeline] : pipeline;
  const lease = await acquireLease(repository, pipelines, operation, ctx, options);
  try {
    return await fn({ ...ctx, signal: AbortSignal.any([ctx.signal, lease.signal]) }, lease);
  } finally {
    await lease.release();
  }
}

/** Every lease of the given pipelines, each judged live or stale as of `now`. */
export async function readLeases(
  repository: Repository,
  pipelines: readonly string[],
  ctx: RunContext,
  now: Date = new Date(),
): Promise<LeaseInfo[]> {
  const leases: LeaseInfo[] = [];
  for (const pipeline of pipelines) {
    for await (const object of repository.destination.list(`${pipeline}/${LEASE_FOLDER}/`, ctx)) {
      if (!object.key.endsWith('.json') || object.key.split('/').length !== 3) continue;
      let record: LeaseRecord | undefined;
      try {
        record = parseLease(await text(await repository.destination.get(object.key, ctx)));
      } catch (error) {
        // Removed between list and get: its holder released it.
        if (toNexusError(error).code === 'NOT_FOUND') continue;
      }
      leases.push(judgeLease(object.key, record, object.modified, now));
    }
  }
  return leases;
}

/** Live when its holder runs: on this machine the pid decides at once; elsewhere the heartbeat's age. */
export function judgeLease(
  key: string,
  record: LeaseRecord | undefined,
  modified: Date,
  now: Date,
): LeaseInfo {
  if (!record) {
    const ageMs = now.getTime() - modified.getTime();
    return {
      key,
      state: ageMs > LEASE_STALE_MS ? 'stale' : 'live',
      reason: `unreadable lease, written ${formatAge(ageMs)} ago`,
      holder: key,
    };
  }
  const holder = `${record.operation} by ${record.host} pid ${record.pid} since ${record.start}`;
  const here = currentHolder();
  if (record.host === here.host && record.machine !== undefined && record.machine === here.machine) {
    return isHolderAlive(record)
      ? { key, record, state: 'live', reason: `pid ${record.pid} on this host is running`, holder }
      : { key, record, state: 'stale', reason: `pid ${record.pid} on this host is gone`, holder };
  }
  const ageMs = now.getTime() - new Date(record.heartbeat).getTime();
  const heartbeat = `heartbeat ${formatAge(ageMs)} old`;
  return Number.isNaN(ageMs) || ageMs > LEASE_STALE_MS
    ? {
        key,
        record,
        state: 'stale',
        reason: `${heartbeat} (stale after ${formatAge(LEASE_STALE_MS)})`,
        holder,
      }
    : { key, record, state: 'live', reason: heartbeat, holder };
}

/** The live lease that covers a backup folder, if any (an unreadable lease covers every folder). */
export function leaseCovering(
  leases: readonly LeaseInfo[],
  pipeline: string,
  id: string,
): LeaseInfo | undefined {
  return leases.find(
    (lease) =>
      lease.state === 'live' &&
      lease.key.startsWith(`${pipeline}/`) &&
      (lease.record === undefined || lease.record.covers === '*' || lease.record.covers === id),
  );
}

function parseLease(body: string): LeaseRecord | undefined {
  const value = JSON.parse(body) as Partial<LeaseRecord> | null;
  const ok =
    value?.format === LEASE_FORMAT &&
    typeof value.host === 'string' &&
    typeof value.pid === 'number' &&
    typeof value.start === 'string' &&
    typeof value.heartbeat === 'string' &&
    typeof value.operation === 'string';
  return ok ? (value as LeaseRecord) : undefined;
}

async function deleteQuietly(repository: Repository, keys: string[], ctx: RunContext): Promise<void> {
  try {
    await repository.destination.delete(keys, { ...ctx, signal: new AbortController().signal });
  } catch (error) {
    ctx.log.warn(
      `could not remove the lease ${keys.join(', ')} from ${repository.label}: ${toNexusError(error).message}; \`nexus-backup unlock\` removes it`,
    );
  }
}

function formatAge(ms: number): string {
  if (ms < 120_000) return `${Math.max(0, Math.round(ms / 1000))}s`;
  if (ms < 7_200_000) return `${Math.round(ms / 60_000)}min`;
  return `${Math.round(ms / 3_600_000)}h`;
}
