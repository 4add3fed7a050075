import { describeTransformConformance } from '@nexus-backup/testkit';
import { zstd } from '@nexus-backup/zstd';

describeTransformConformance('zstd (calling thread)', async () => ({
  transform: await zstd.create({ level: 3, workers: 0, long: false }),
}));

describeTransformConformance('zstd (2 zstd threads, long window)', async () => ({
  transform: await zstd.create({ level: 3, workers: 2, long: true }),
}));
