import { Transform, type TransformCallback } from 'node:stream';
import { promisify } from 'node:util';
import type * as Zlib from 'node:zlib';

/** Input per frame: large enough that cutting the stream costs almost no ratio at the usual levels. */
export const FRAME_BYTES = 4 * 1024 * 1024;

/**
 * zstd on several threads as independent frames, one per FRAME_BYTES of input, compressed on libuv's
 * thread pool with at most `workers` in flight and written in input order. Frames back to back are one
 * valid zstd stream. Node's own threaded mode (`ZSTD_c_nbWorkers`) is not used: it loses the end of
 * streams of a few MiB and more (nodejs/node#59899: `stream.push() after EOF`, or a truncated frame).
 */
export function parallelFrames(
  zlib: typeof Zlib,
  params: Record<number, number>,
  workers: number,
): Transform {
  const compress = promisify(zlib.zstdCompress) as (input: Buffer, options: object) => Promise<Buffer>;
  let held: Buffer[] = [];
  let heldBytes = 0;
  const inFlight: Promise<Buffer>[] = [];
  let started = 0;

  const start = (block: Buffer): void => {
    const job = compress(block, { params });
    // Awaited in order later; a failure before then must not count as unhandled.
    job.catch(() => {});
    inFlight.push(job);
    started++;
  };
  const cut = (): void => {
    const all = held.length === 1 ? (held[0] as Buffer) : Buffer.concat(held);
    for (let offset = 0; offset + FRAME_BYTES <= all.length; offset += FRAME_BYTES) {
      start(all.subarray(offset, offset + FRAME_BYTES));
    }
    const rest = all.subarray(all.length - (all.length % FRAME_BYTES));
    held = rest.length > 0 ? [rest] : [];
    heldBytes = rest.length;
  };

  return new Transform({
    async transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        held.push(chunk);
        heldBytes += chunk.length;
        if (heldBytes >= FRAME_BYTES) cut();
        // Backpressure: wait for the oldest frames while all workers are busy.
        while (inFlight.length >= workers) this.push(await (inFlight.shift() as Promise<Buffer>));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    async flush(callback: TransformCallback) {
      try {
        // An empty input still gets one (empty) frame, so the artifact is valid zstd.
        if (heldBytes > 0 || started === 0) start(Buffer.concat(held));
        held = [];
        while (inFlight.length > 0) this.push(await (inFlight.shift() as Promise<Buffer>));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
}
