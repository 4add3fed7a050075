import { randomBytes } from 'node:crypto';
import { describeDestinationConformance, MiB } from '@nexus-backup/testkit';
import { type S3Server, type S3ServerKind, startS3Server } from '@nexus-backup/testkit/s3';
import { afterAll, beforeAll } from 'vitest';
import { destinationFor, repositoryUrl, useServerCredentials } from './s3-test-setup.js';

// Two independent implementations, so one server's quirks do not shape the provider.
for (const kind of ['s3rver', 'fauxqs'] as S3ServerKind[]) {
  let server: S3Server;
  beforeAll(async () => {
    server = await startS3Server({ kind });
  });
  afterAll(async () => {
    await server?.stop();
  });

  describeDestinationConformance(
    `s3 on ${kind}`,
    async () => {
      useServerCredentials(server);
      // partSize 5 MiB x queueSize 2: the 6 MiB round trip and the large stream go up in several parts.
      const destination = await destinationFor(
        repositoryUrl(server, `repo-${randomBytes(4).toString('hex')}`),
      );
      return { destination };
    },
    {
      largeStreamBytes: 48 * MiB,
      manyKeys: 1001,
      // A failed put never leaves a visible object; s3rver cannot abort the multipart upload, but that
      // upload is invisible to list, so even there nothing shows.
      capabilities: { atomicOverwrite: true, abort: true, cleansUpFailedPut: true },
    },
  );
}
