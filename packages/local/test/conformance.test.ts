import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { local } from '@nexus-backup/local';
import { describeDestinationConformance } from '@nexus-backup/testkit';

describeDestinationConformance('local', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-local-conformance-'));
  const destination = await local.create({ path: join(dir, 'repo') });
  return { destination, teardown: () => rm(dir, { recursive: true, force: true }) };
});
