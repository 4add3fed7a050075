import { addAbortSignal, type Duplex } from 'node:stream';
import { defineTransform, STREAM_CHUNK_BYTES } from '@nexus-backup/core';
import { reportDamagedInput } from './damaged-input.js';

const MAX_WORKERS = 64;

/** gzip that any `gunzip` reads; with `parallel`, independent members compressed on worker threads. */
export const gzip = defineTransform({
  name: 'gzip',
  description: 'compresses with gzip (any gunzip reads the result); optionally on several worker threads',
  compresses: true,
  extension: '.gz',
  // `backup` compresses by default: `--gzip[=LEVEL]`, `--no-gzip`, `--gzip-parallel N`.
  cli: { flag: 'gzip', valueOption: 'level', enabledByDefault: true },
  options: {
    level: {
      type: 'number',
      integer: true,
      min: 1,
      max: 9,
      default: 6,
      description: 'compression level, 1 (fastest) to 9 (smallest)',
      placeholder: 'LEVEL',
    },
    parallel: {
      type: 'number',
      integer: true,
      min: 0,
      max: MAX_WORKERS,
      default: 0,
      description: 'worker threads compressing 1 MiB blocks in parallel; 0 compresses on the main thread',
      placeholder: 'THREADS',
    },
  },
  async create({ level, parallel }) {
    // zlib and worker_threads are built in; the encoder module is small, but only parallel mode needs it.
    const zlib = await import('node:zlib');
    return {
      // Decode needs nothing from here (gunzip reads single and multi-member files); recorded as facts.
      params: () => ({ level, members: parallel > 0 ? 'one per 1 MiB block' : 'single' }),
      async encode(ctx): Promise<Duplex> {
        // Reject now: a stream handed back already destroyed would raise its error before anyone listens.
        ctx.signal.throwIfAborted();
        if (parallel === 0)
          return addAbortSignal(ctx.signal, zlib.createGzip({ level, chunkSize: STREAM_CHUNK_BYTES }));
        const { ParallelGzipEncoder } = await import('./parallel-gzip-encoder.js');
        ctx.signal.throwIfAborted();
        return addAbortSignal(ctx.signal, new ParallelGzipEncoder(parallel, level));
      },
      async decode(ctx): Promise<Duplex> {
        ctx.signal.throwIfAborted();
        return addAbortSignal(
          ctx.signal,
          reportDamagedInput(zlib.createGunzip({ chunkSize: STREAM_CHUNK_BYTES })),
        );
      },
    };
  },
});
