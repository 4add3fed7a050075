import { Readable } from 'node:stream';
import { NexusError } from '@nexus-backup/core';
import type { Stats } from 'ssh2';
import { FlushBehind } from './flush-behind.js';
import type { SftpSession } from './sftp-session.js';

/**
 * Pipelined SFTP transfers on the raw ssh2 channel. One request at a time is bounded by the round
 * trip (ssh2-sftp-client's streams reach ~7 MB/s on loopback); keeping `requests` reads or writes in
 * flight at explicit offsets is what makes SFTP as fast as scp.
 */
const MAX_REQUEST_BYTES = 256 * 1024;

/** Streams `body` into a new remote file (mode 0600), fsyncs it when the server can, returns the byte count. */
export async function writeRemoteFile(
  session: SftpSession,
  path: string,
  body: Readable,
  requests: number,
): Promise<number> {
  const { sftp } = session;
  const handle = await session.request<Buffer>((callback) => sftp.open(path, 'w', { mode: 0o600 }, callback));
  const chunkSize = Math.min(MAX_REQUEST_BYTES, session.maxWrite);
  const window = new RequestWindow(requests);
  const flushBehind = new FlushBehind(session, path, (error) => window.fail(error));
  let offset = 0;
  let acknowledged = 0;

  const send = (data: Buffer) => {
    const at = offset;
    const length = data.length;
    offset += length;
    window.track(
      session
        .request<void>((callback) => sftp.write(handle, data, 0, length, at, (error) => callback(error)))
        .then(() => {
          acknowledged += length;
          flushBehind.written(acknowledged);
        }),
    );
  };
  // ssh2 copies a write's payload into its own packet before sftp.write returns, so one staging
  // buffer is reused for every request: no allocation per request, and nothing of ours held while
  // requests are in flight (the GC churn of fresh buffers cost ~20% of the CPU of an upload).
  const staging = Buffer.allocUnsafe(chunkSize);
  let staged = 0;

  try {
    for await (const chunk of body) {
      window.throwIfFailed();
      const data = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
      let used = 0;
      while (used < data.length) {
        if (staged === 0 && data.length - used >= chunkSize) {
          send(data.subarray(used, used + chunkSize));
          used += chunkSize;
        } else {
          const copied = data.copy(staging, staged, used);
          staged += copied;
          used += copied;
          if (staged < chunkSize) break;
          send(staging);
          staged = 0;
        }
        // backpressure: stop reading the body while the window is full
        await window.room();
      }
    }
    if (staged > 0) send(staging.subarray(0, staged));
    await window.drained();
    await flushBehind.finish();
    window.throwIfFailed();
    if (session.hasExtension('fsync@openssh.com')) {
      await session.request((callback) => sftp.ext_openssh_fsync(handle, (error) => callback(error)));
    }
    await session.request<void>((callback) => sftp.close(handle, (error) => callback(error)));
    return offset;
  } catch (error) {
    await window.settled();
    await flushBehind.finish();
    if (session.alive) {
      await session
        .request<void>((callback) => sftp.close(handle, (closeError) => callback(closeError)))
        .catch(() => {});
    }
    throw error;
  }
}

/**
 * Counts the write requests in flight and remembers the first failure. A counter and one waiter,
 * not Promise.race over the requests: a race attaches a handler to every pending request on each
 * call, and those pile up on requests that stay in flight through many calls.
 */
class RequestWindow {
  private count = 0;
  private failure: { error: unknown } | undefined;
  private wake: (() => void) | undefined;

  constructor(private readonly size: number) {}

  track(request: Promise<void>): void {
    this.count++;
    request.then(
      () => this.done(),
      (error: unknown) => {
        this.fail(error);
        this.done();
      },
    );
  }

  fail(error: unknown): void {
    this.failure ??= { error };
    this.notify();
  }

  throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Resolves once another request may start; throws the first failure instead. */
  async room(): Promise<void> {
    while (this.count >= this.size && !this.failure) await this.change();
    this.throwIfFailed();
  }

  /** Resolves once every request has answered; throws the first failure. */
  async drained(): Promise<void> {
    await this.settled();
    this.throwIfFailed();
  }

  /** Resolves once every request has answered, failed or not. */
  async settled(): Promise<void> {
    while (this.count > 0) await this.change();
  }

  private done(): void {
    this.count--;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private change(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
}

/** Opens a remote file for a pipelined read; rejects (SFTP status) when it cannot be opened. */
export async function readRemoteFile(
  session: SftpSession,
  path: string,
  requests: number,
): Promise<{ stream: Readable; size: number }> {
  const { sftp } = session;
  const handle = await session.request<Buffer>((callback) => sftp.open(path, 'r', callback));
  let stats: Stats;
  try {
    stats = await session.request<Stats>((callback) => sftp.fstat(handle, callback));
  } catch (error) {
    await session.request<void>((callback) => sftp.close(handle, (e) => callback(e))).catch(() => {});
    throw error;
  }
  if (!stats.isFile()) {
    await session.request<void>((callback) => sftp.close(handle, (e) => callback(e))).catch(() => {});
    throw Object.assign(new Error(`${path} is not a file`), { code: 2 });
  }
  const size = stats.size;
  const chunkSize = Math.min(MAX_REQUEST_BYTES, session.maxRead);

  const readExactly = async (position: number, length: number): Promise<Buffer> => {
    const buffer = Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const got = await session.request<number>((callback) =>
        sftp.read(handle, buffer, filled, length - filled, position + filled, (error, bytesRead) =>
          callback(error, bytesRead),
        ),
      );
      if (!got) {
        throw new NexusError(
          'IO',
          `${path} ended at ${position + filled} bytes, before its size of ${size}`,
          {
            provider: 'sftp',
            hint: 'the remote file changed while it was read; retry',
          },
        );
      }
      filled += got;
    }
    return buffer;
  };

  async function* chunks(): AsyncGenerator<Buffer> {
    const window: Promise<Buffer>[] = [];
    let next = 0;
    const refill = () => {
      while (window.length < requests && next < size) {
        const length = Math.min(chunkSize, size - next);
        const read = readExactly(next, length);
        read.catch(() => {}); // observed when its turn comes; a destroyed stream never looks
        window.push(read);
        next += length;
      }
    };
    try {
      refill();
      while (window.length > 0) {
        const data = await (window.shift() as Promise<Buffer>);
        refill();
        yield data;
      }
    } finally {
      if (session.alive)
        session.request<void>((callback) => sftp.close(handle, (e) => callback(e))).catch(() => {});
    }
  }

  const stream = Readable.from(chunks(), { objectMode: false, highWaterMark: chunkSize });
  return { stream, size };
}
