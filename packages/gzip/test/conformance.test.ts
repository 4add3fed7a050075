import { gzip } from '@nexus-backup/gzip';
import { describeTransformConformance } from '@nexus-backup/testkit';

describeTransformConformance('gzip (single-threaded zlib)', async () => ({
  transform: await gzip.create({ level: 6, parallel: 0 }),
}));

describeTransformConformance('gzip (parallel, 2 worker threads)', async () => ({
  transform: await gzip.create({ level: 6, parallel: 2 }),
}));
