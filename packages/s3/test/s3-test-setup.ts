import type { Destination } from '@nexus-backup/core';
import { resolveOptions } from '@nexus-backup/core';
import { s3 } from '@nexus-backup/s3';
import type { S3Server } from '@nexus-backup/testkit/s3';

/** Credentials reach the SDK through its standard chain (environment), exactly as for a user. */
export function useServerCredentials(server: S3Server): void {
  process.env.AWS_ACCESS_KEY_ID = server.credentials.accessKeyId;
  process.env.AWS_SECRET_ACCESS_KEY = server.credentials.secretAccessKey;
  delete process.env.AWS_SESSION_TOKEN;
  delete process.env.AWS_PROFILE;
}

/** The repository URL a user would type for this server. */
export function repositoryUrl(
  server: S3Server,
  prefix: string,
  query: Record<string, string | number> = {},
): URL {
  const params = new URLSearchParams({
    region: server.region,
    endpoint: server.endpoint,
    forcePathStyle: 'true',
    partSize: '5',
    queueSize: '2',
    ...Object.fromEntries(Object.entries(query).map(([key, value]) => [key, String(value)])),
  });
  return new URL(`s3://${server.bucket}/${prefix}?${params}`);
}

/** A destination built the way the CLI builds it: URL -> options -> create. */
export async function destinationFor(url: URL): Promise<Destination> {
  const options = resolveOptions(s3.options, {
    path: 'test',
    provider: 's3',
    values: { ...s3.fromUrl(url) },
  });
  return s3.create(options);
}
