import { addAbortSignal } from 'node:stream';
import { constants, createZstdCompress, createZstdDecompress } from 'node:zlib';
import { defineTransform, NexusError } from '@nexus-backup/core';

/**
 * An in-house transform: zstd from Node's own zlib (Node >= 22.15). One declaration gives the config
 * keys (`{ use: zstd, level: 19 }`), the backup flags (`--zstd[=LEVEL]`, `--no-zstd`) and the help text.
 */
export const zstd = defineTransform({
  name: 'zstd',
  description: 'compresses with zstd (the `zstd -d` tool reads the result)',
  extension: '.zst',
  cli: { flag: 'zstd', valueOption: 'level' },
  options: {
    level: { type: 'number', default: 3, description: 'compression level, 1 (fastest) to 19 (smallest)' },
  },
  create(options) {
    if (!Number.isInteger(options.level) || options.level < 1 || options.level > 19) {
      throw new NexusError('USAGE', `zstd level must be a whole number from 1 to 19, got ${options.level}`, {
        provider: 'zstd',
      });
    }
    return {
      // Decoding zstd needs no parameters; the level is recorded for the operator's information.
      params: () => ({ level: options.level }),
      // addAbortSignal: a stage stops on its own when the run is cancelled, as the contract asks.
      async encode(ctx) {
        ctx.signal.throwIfAborted();
        const level = { [constants.ZSTD_c_compressionLevel]: options.level };
        return addAbortSignal(ctx.signal, createZstdCompress({ params: level }));
      },
      async decode(ctx) {
        ctx.signal.throwIfAborted();
        return addAbortSignal(ctx.signal, createZstdDecompress());
      },
    };
  },
});
