import { Transform, type TransformCallback } from 'node:stream';

/**
 * What the stages of a backup or restore pass to each other. Sources and stores hand over 16-64 KiB
 * (a socket read, a file read), and every stage pays per chunk: a thread-pool hop and an output buffer
 * per zlib/zstd call, a hash update, a stream callback. Measured on 512 MB of dump text (bench/README.md,
 * round 5): zstd -1 from 64 KiB to 256 KiB chunks 1.70 -> 1.01 s of CPU (1 MiB: 0.96 s), its decoder
 * 1.34 -> 0.51 s (1 MiB: 0.48 s). Not larger: 1 MiB chunks held 20-30 MiB more at the peak of a
 * restore (more bytes in flight per stage, and glibc keeps freed 1 MiB blocks in its heap).
 */
export const STREAM_CHUNK_BYTES = 256 * 1024;

/**
 * Passes bytes through unchanged in chunks of at least STREAM_CHUNK_BYTES (the last may be smaller):
 * small chunks are joined (one copy), a large one goes through as it is. Holds less than one chunk.
 */
export class CoalescingStream extends Transform {
  private held: Buffer[] = [];
  private heldBytes = 0;

  constructor(private readonly chunkBytes = STREAM_CHUNK_BYTES) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.heldBytes === 0 && chunk.length >= this.chunkBytes) {
      callback(null, chunk);
      return;
    }
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.heldBytes >= this.chunkBytes) this.push(this.joinHeld());
    callback();
  }

  override _flush(callback: TransformCallback): void {
    if (this.heldBytes > 0) this.push(this.joinHeld());
    callback();
  }

  private joinHeld(): Buffer {
    const joined =
      this.held.length === 1 ? (this.held[0] as Buffer) : Buffer.concat(this.held, this.heldBytes);
    this.held = [];
    this.heldBytes = 0;
    return joined;
  }
}
