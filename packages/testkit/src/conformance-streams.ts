import { createHash, randomFillSync } from 'node:crypto';
import { Readable } from 'node:stream';

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** A stream of random bytes made on demand, so several MiB never sit in memory at once. */
export interface GeneratedStream {
  stream: Readable;
  /** Bytes handed out so far. */
  produced(): number;
  /** SHA-256 (hex) of every byte handed out so far; the whole stream's once it has ended. */
  sha256(): string;
}

export interface PausingStream extends GeneratedStream {
  /** Resolves once the consumer has taken everything before the pause point and asks for more. */
  paused: Promise<void>;
  /** Lets the rest of the stream flow. */
  resume(): void;
}

export interface GeneratedStreamOptions {
  chunkBytes?: number;
  /** Called before each chunk is handed out, with the bytes handed out so far (for memory sampling). */
  onChunk?(produced: number): void;
  /** Stops before this many bytes until `resume()` is called (see `pausingStream`). */
  pauseAt?: number;
  /** Fails with this error once `failAt` bytes have been handed out. */
  failAt?: number;
  error?: Error;
}

/**
 * The one generator behind every test stream: random bytes, hashed as they go out, optionally pausing
 * at a byte offset (to act while a consumer is mid-stream) or failing at one (a source dying mid-way).
 */
function generate(totalBytes: number, options: GeneratedStreamOptions): PausingStream {
  const chunkBytes = options.chunkBytes ?? 64 * KiB;
  const hash = createHash('sha256');
  let produced = 0;
  let pausedAt: (() => void) | undefined;
  let resumeWaiting: (() => void) | undefined;
  let resumed = options.pauseAt === undefined;
  const paused = new Promise<void>((resolve) => {
    pausedAt = resolve;
  });

  const stream = new Readable({
    highWaterMark: chunkBytes,
    read() {
      const emit = () => {
        if (options.failAt !== undefined && produced >= options.failAt) {
          this.destroy(options.error ?? new Error('test source failed mid-stream'));
          return;
        }
        if (produced >= totalBytes) {
          this.push(null);
          return;
        }
        let size = Math.min(chunkBytes, totalBytes - produced);
        if (!resumed && options.pauseAt !== undefined) size = Math.min(size, options.pauseAt - produced);
        if (options.failAt !== undefined) size = Math.min(size, options.failAt - produced);
        options.onChunk?.(produced);
        const chunk = randomFillSync(Buffer.allocUnsafe(size));
        hash.update(chunk);
        produced += size;
        this.push(chunk);
      };
      if (!resumed && options.pauseAt !== undefined && produced >= options.pauseAt) {
        resumeWaiting = emit;
        pausedAt?.();
        return;
      }
      emit();
    },
  });

  return {
    stream,
    paused,
    produced: () => produced,
    sha256: () => hash.copy().digest('hex'),
    resume() {
      resumed = true;
      const waiting = resumeWaiting;
      resumeWaiting = undefined;
      if (waiting && !stream.destroyed) waiting();
    },
  };
}

/** `totalBytes` random bytes in chunks; `sha256()` tells what a faithful consumer must have seen. */
export function randomStream(
  totalBytes: number,
  options: Omit<GeneratedStreamOptions, 'pauseAt'> = {},
): GeneratedStream {
  return generate(totalBytes, options);
}

/** Random bytes that stop after `pauseAt` bytes until `resume()`: lets a test act while a write is in flight. */
export function pausingStream(
  totalBytes: number,
  pauseAt: number,
  options: GeneratedStreamOptions = {},
): PausingStream {
  return generate(totalBytes, { ...options, pauseAt });
}

/** Random bytes that fail with `error` after `failAt` bytes, as a dying source or a failed integrity check would. */
export function failingStream(
  failAt: number,
  error: Error = new Error('test source failed mid-stream'),
): Readable {
  return generate(Number.MAX_SAFE_INTEGER, { failAt, error }).stream;
}

/** Consumes a stream, keeping only its length and SHA-256. */
export async function hashStream(stream: Readable): Promise<{ bytes: number; sha256: string }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of stream) {
    const buffer = toBuffer(chunk);
    hash.update(buffer);
    bytes += buffer.length;
  }
  return { bytes, sha256: hash.digest('hex') };
}

/** Consumes a stream into one Buffer; only for test data known to be small. */
export async function collectStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(toBuffer(chunk));
  return Buffer.concat(chunks);
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

function toBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  return typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk as Uint8Array);
}

/**
 * Emits `first`, then stalls without ending until `release()`, which sends `rest` and ends: a consumer
 * is left mid-stream until the test has acted.
 */
export function stallingStream(
  first: Buffer,
  rest: Buffer = Buffer.alloc(0),
): { stream: Readable; stalled: Promise<void>; release(): void } {
  let sent = false;
  let onStall: () => void = () => {};
  const stalled = new Promise<void>((resolve) => {
    onStall = resolve;
  });
  const stream = new Readable({
    read() {
      if (sent) {
        onStall();
        return;
      }
      sent = true;
      this.push(first);
    },
  });
  return {
    stream,
    stalled,
    release() {
      if (stream.destroyed) return;
      if (rest.length > 0) stream.push(rest);
      stream.push(null);
    },
  };
}
