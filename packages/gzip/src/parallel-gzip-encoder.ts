import { Duplex } from 'node:stream';
import { type CompressorPool, createCompressorPool } from './compressor-pool.js';

export const BLOCK_BYTES = 1024 * 1024;

interface Member {
  /** Set once the worker is done; members leave the queue strictly in input order. */
  data?: Buffer;
}

/**
 * gzip with worker threads: the input is cut into equal blocks, each compressed as an independent
 * gzip member, and the members are emitted in input order. Concatenated members are one valid gzip
 * file (RFC 1952), which `gunzip` and zlib read whole. At most `maxInFlight` blocks are queued or
 * waiting to be read, so a slow sink holds the input back instead of growing memory.
 */
export class ParallelGzipEncoder extends Duplex {
  private readonly pool: CompressorPool;
  private readonly blockBytes: number;
  private readonly maxInFlight: number;
  private readonly queue: Member[] = [];
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private submittedAny = false;
  private readerWants = false;
  private resumeWriter: (() => void) | undefined;
  private finishing: ((error?: Error | null) => void) | undefined;

  constructor(workers: number, level: number, blockBytes = BLOCK_BYTES) {
    super();
    this.pool = createCompressorPool(workers, level);
    this.maxInFlight = workers * 2;
    this.blockBytes = blockBytes;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.buffered.push(chunk);
    this.bufferedBytes += chunk.length;
    while (this.bufferedBytes >= this.blockBytes) this.submit(this.takeBytes(this.blockBytes));
    if (this.queue.length >= this.maxInFlight) this.resumeWriter = () => callback();
    else callback();
  }

  override _final(callback: (error?: Error | null) => void): void {
    // An empty input still becomes one (empty) member: zero bytes is not a gzip file.
    if (this.bufferedBytes > 0 || !this.submittedAny) this.submit(this.takeBytes(this.bufferedBytes));
    this.finishing = callback;
    this.emitReady();
  }

  override _read(): void {
    this.readerWants = true;
    this.emitReady();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.queue.length = 0;
    this.buffered = [];
    this.pool.close().then(
      () => callback(error),
      () => callback(error),
    );
  }

  private takeBytes(count: number): Buffer {
    const all =
      this.buffered.length === 1 ? this.buffered[0]! : Buffer.concat(this.buffered, this.bufferedBytes);
    const block = Buffer.from(all.subarray(0, count)); // a copy the pool may transfer to a worker
    const rest = all.subarray(count);
    this.buffered = rest.length > 0 ? [rest] : [];
    this.bufferedBytes = rest.length;
    return block;
  }

  private submit(block: Buffer): void {
    this.submittedAny = true;
    const member: Member = {};
    this.queue.push(member);
    this.pool.compress(block).then(
      (data) => {
        member.data = data;
        this.emitReady();
      },
      (error: Error) => {
        if (!this.destroyed) this.destroy(error);
      },
    );
  }

  /** Pushes finished members in order while the reader wants more, then lets the writer go on. */
  private emitReady(): void {
    if (this.destroyed) return;
    while (this.readerWants && this.queue[0]?.data) {
      const member = this.queue.shift()!;
      this.readerWants = this.push(member.data);
    }
    if (this.queue.length < this.maxInFlight && this.resumeWriter) {
      const resume = this.resumeWriter;
      this.resumeWriter = undefined;
      resume();
    }
    if (this.finishing && this.queue.length === 0) {
      const finish = this.finishing;
      this.finishing = undefined;
      this.push(null);
      // Finish only once the threads are gone, so a finished pipeline leaves nothing running.
      this.pool.close().then(() => finish(), finish);
    }
  }
}
