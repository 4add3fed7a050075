import { addAbortSignal, Duplex, pipeline } from 'node:stream';
import { defineTransform, STREAM_CHUNK_BYTES } from '@nexus-backup/core';
import { splitAtFrameEnds } from './frame-boundaries.js';
import { parallelFrames } from './parallel-frames.js';

const MAX_WORKERS = 64;
/** 2^27 = 128 MiB: the window `zstd --long` uses, and the most `zstd -d` accepts without `--memory`. */
const LONG_WINDOW_LOG = 27;

/**
 * zstd that `zstd -d` reads, on the zstd library bundled with Node (>= 22.15). The input is cut into
 * independent 1 MiB frames, `workers` of them compressed at once (parallel-frames.ts); any decoder
 * reads them as one stream.
 */
export const zstd = defineTransform({
  name: 'zstd',
  description: 'compresses with zstd (`zstd -d` reads the result); optionally on several threads',
  compresses: true,
  extension: '.zst',
  cli: { flag: 'zstd', valueOption: 'level' },
  options: {
    level: {
      type: 'number',
      integer: true,
      min: 1,
      max: 19,
      // Level 2, not zstd's usual 3: measured in bench/README.md (round 6), 0.6x level 3's CPU on dump
      // text and still within 7% of gzip -6's size on every sample (dump text 0.95x, JSON 0.93x,
      // Markdown 0.97x, JavaScript 1.07x); level 1 was 1.10x gzip -6 on JavaScript.
      default: 2,
      description: 'compression level, 1 (fastest) to 19 (smallest)',
      placeholder: 'LEVEL',
    },
    workers: {
      type: 'number',
      integer: true,
      min: 0,
      max: MAX_WORKERS,
      // 1, not 0: one frame at a time still compresses in one pass per frame, 0.7x the CPU of the
      // stream (parallel-frames.ts; bench/README.md, round 7), and the frames come out smaller.
      default: 1,
      description:
        'threads compressing 1 MiB frames side by side; 0 compresses the whole artifact as one frame (least memory)',
      placeholder: 'THREADS',
    },
    long: {
      type: 'boolean',
      default: false,
      description:
        'long-distance matching with a 128 MiB window (smaller output; `zstd -d --long=27` reads it)',
    },
  },
  async create({ level, workers, long }) {
    const zlib = await import('node:zlib');
    const { constants } = zlib;
    const params: Record<number, number> = {
      [constants.ZSTD_c_compressionLevel]: level,
      // A per-frame checksum: `zstd -d` and restore both reject a damaged frame on their own.
      [constants.ZSTD_c_checksumFlag]: 1,
    };
    if (long) {
      params[constants.ZSTD_c_enableLongDistanceMatching] = 1;
      params[constants.ZSTD_c_windowLog] = LONG_WINDOW_LOG;
    }
    return {
      // Decoding needs only `long` (the decoder must accept the larger window); level is for the operator.
      params: () => ({ level, workers, long }),
      async encode(ctx): Promise<Duplex> {
        // Reject now: a stream handed back already destroyed would raise its error before anyone listens.
        ctx.signal.throwIfAborted();
        // A 128 MiB window only pays within one frame: `long` compresses the artifact as one.
        const stage =
          workers > 0 && !long
            ? parallelFrames(zlib, params, workers)
            : zlib.createZstdCompress({ params, chunkSize: STREAM_CHUNK_BYTES });
        return addAbortSignal(ctx.signal, stage);
      },
      async decode(ctx, stored): Promise<Duplex> {
        ctx.signal.throwIfAborted();
        const window = stored.long === true ? { [constants.ZSTD_d_windowLogMax]: LONG_WINDOW_LOG } : {};
        // One decoder for every frame, fed a frame at a time (frame-boundaries.ts says why).
        const decoder = zlib.createZstdDecompress({ params: window, chunkSize: STREAM_CHUNK_BYTES });
        const splitter = splitAtFrameEnds();
        // A failure on either side reaches the reader through the duplex, which watches both.
        pipeline(splitter, decoder, () => {});
        return addAbortSignal(ctx.signal, Duplex.from({ writable: splitter, readable: decoder }));
      },
    };
  },
});
