import { describeTransformConformance, KiB } from '@nexus-backup/testkit';
import { createAes } from './support.js';

describeTransformConformance(
  'aes (nexus format, 64 KiB chunks)',
  async () => ({
    transform: await createAes({ chunkSize: 64 * KiB }),
  }),
  { chunkBytes: 64 * KiB },
);

describeTransformConformance(
  'aes (nexus format, 1 KiB chunks)',
  async () => ({ transform: await createAes() }),
  {
    chunkBytes: 1 * KiB,
    largeBytes: 1024 * KiB,
    backpressureBytes: 4096 * KiB,
  },
);

// CBC cannot tell a cut at a block boundary from a real end (only padding, valid 1 time in 256), so
// truncation detection is not claimed; restore verifies the stored SHA-256 for this format instead.
describeTransformConformance(
  'aes (openssl format)',
  async () => ({ transform: await createAes({ format: 'openssl' }) }),
  {
    chunkBytes: 64 * KiB,
    capabilities: { detectsTruncation: false },
  },
);
