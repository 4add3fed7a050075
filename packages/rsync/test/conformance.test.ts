import { describeDestinationConformance } from '@nexus-backup/testkit';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll } from 'vitest';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

let server: SshdHandle;
beforeAll(async () => {
  server = await startSshd();
});
afterAll(async () => {
  await server?.stop();
});

describeDestinationConformance('sftp against OpenSSH sshd', async () => ({
  destination: await destinationFor(repositoryUrl(server, freshPath(server, 'conformance'))),
}));

describeDestinationConformance('sftp through the system ssh client (transport=ssh)', async () => ({
  destination: await destinationFor(
    repositoryUrl(server, freshPath(server, 'conformance-ssh'), { transport: 'ssh' }),
  ),
}));
