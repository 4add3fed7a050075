import { Transform, type TransformCallback } from 'node:stream';
import type * as Zlib from 'node:zlib';

/**
 * Input per frame. Cutting the stream here costs nothing in size: given a frame's size, zstd fits its
 * tables to it, and on the sample's 512 MB of dump text at level 2 1 MiB frames came out 1.3%
 * smaller than one streamed frame (4 MiB: 0.3%), with the least memory (bench/README.md, round 7).
 * Restore reads frames of any size (frame-boundaries.ts).
 */
export const FRAME_BYTES = 1024 * 1024;

/** zstd's worst case for one frame: ZSTD_COMPRESSBOUND plus room for the frame header and checksum. */
const FRAME_BOUND_BYTES = FRAME_BYTES + (FRAME_BYTES >> 8) + 64 * 1024;

/**
 * Each engine writes its frames into one output buffer of two bounds, one after the other, and a new
 * one is allocated when it is used up. Where at least a bound is free, zstd compresses the whole frame
 * in one pass straight into it; with less it copies the input through its window buffer block by
 * block as a stream does (on 100 MB of dump text at level 2: 0.19 s of CPU against 0.28-0.35 s;
 * bench/README.md, round 7). Two bounds: most frames take the fast pass, and the output allocated
 * per frame stays a fraction of the input, not a whole bound.
 */
const ENGINE_OUTPUT_BYTES = 2 * FRAME_BOUND_BYTES;

type Frame = { input: Buffer; output: Promise<Buffer[]>; done: boolean };

/**
 * zstd as independent frames, one per FRAME_BYTES of input, each compressed by one call on libuv's
 * thread pool, with at most `workers` frames in flight (one zstd context each), written in input
 * order; the next frame fills while the last ones compress. Frames back to back are one valid zstd
 * stream. Input buffers are reused once their frame is compressed. Node's own threaded mode
 * (`ZSTD_c_nbWorkers`) is not used: it loses the end of streams of a few MiB and more
 * (nodejs/node#59899: `stream.push() after EOF`, or a truncated frame).
 */
export function parallelFrames(
  zlib: typeof Zlib,
  params: Record<number, number>,
  workers: number,
): Transform {
  // Every write ends a frame (ZSTD_e_end). A frame's output must fit the readable buffer, or the
  // engine would wait for a read that only comes after the write.
  const engines = Array.from({ length: workers }, () => {
    const options: Zlib.ZstdOptions & { readableHighWaterMark: number } = {
      params,
      flush: zlib.constants.ZSTD_e_end,
      chunkSize: ENGINE_OUTPUT_BYTES,
      readableHighWaterMark: 2 * ENGINE_OUTPUT_BYTES,
    };
    const engine = zlib.createZstdCompress(options);
    // A failure reaches the frame through the write's callback.
    engine.on('error', () => {});
    return engine;
  });
  const spare: Buffer[] = [];
  const inFlight: Frame[] = [];
  let filling: Buffer | undefined;
  let filled = 0;
  let started = 0;

  const compress = (engine: Zlib.ZstdCompress, input: Buffer): Promise<Buffer[]> =>
    new Promise((resolve, reject) => {
      engine.write(input, (error) => {
        if (error) return reject(error);
        const output: Buffer[] = [];
        for (let part = engine.read() as Buffer | null; part !== null; part = engine.read())
          output.push(part);
        resolve(output);
      });
    });
  // Round robin with at most `workers` in flight: an engine gets its next frame only once its last
  // one was taken, so what it holds to read is exactly that frame.
  const start = (input: Buffer, length: number): void => {
    const engine = engines[started % workers] as Zlib.ZstdCompress;
    const frame: Frame = { input, output: compress(engine, input.subarray(0, length)), done: false };
    // Awaited in order later; a failure before then must not count as unhandled.
    frame.output.then(
      () => {
        frame.done = true;
      },
      () => {},
    );
    inFlight.push(frame);
    started++;
  };
  const pushOldest = async (stream: Transform): Promise<void> => {
    const frame = inFlight.shift() as Frame;
    for (const part of await frame.output) stream.push(part);
    if (frame.input.length === FRAME_BYTES) spare.push(frame.input);
  };
  const closeEngines = (): void => {
    for (const engine of engines) engine.destroy();
  };

  return new Transform({
    async transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        for (let offset = 0; offset < chunk.length; ) {
          filling ??= spare.pop() ?? Buffer.allocUnsafe(FRAME_BYTES);
          const copied = chunk.copy(filling, filled, offset);
          offset += copied;
          filled += copied;
          if (filled < FRAME_BYTES) break;
          // Backpressure: a full frame waits for a free engine, pushing the oldest output meanwhile.
          while (inFlight.length >= workers) await pushOldest(this);
          start(filling, FRAME_BYTES);
          filling = undefined;
          filled = 0;
        }
        // What finished, in order, goes on now rather than when the next frame fills.
        while (inFlight[0]?.done) await pushOldest(this);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    async flush(callback: TransformCallback) {
      try {
        // An empty input still gets one (empty) frame, so the artifact is valid zstd.
        if (filled > 0 || started === 0) {
          while (inFlight.length >= workers) await pushOldest(this);
          start(filling ?? Buffer.alloc(0), filled);
        }
        filling = undefined;
        while (inFlight.length > 0) await pushOldest(this);
        spare.length = 0;
        closeEngines();
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    destroy(error, callback) {
      closeEngines();
      callback(error);
    },
  });
}
