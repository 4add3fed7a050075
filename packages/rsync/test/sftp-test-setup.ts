import { randomBytes } from 'node:crypto';
import type { Destination } from '@nexus-backup/core';
import { resolveOptions } from '@nexus-backup/core';
import { sftp } from '@nexus-backup/rsync';
import type { SshdHandle } from '@nexus-backup/testkit/sshd';

/** The repository URL a user would type for this server, with the harness's key and known_hosts. */
export function repositoryUrl(server: SshdHandle, path: string, query: Record<string, string> = {}): URL {
  const params = new URLSearchParams({
    identity: server.identityFile,
    knownHosts: server.knownHostsFile,
    ...query,
  });
  return new URL(`sftp://${server.user}@${server.host}:${server.port}${path}?${params}`);
}

/** A destination built the way the CLI builds it: URL -> options -> create. */
export async function destinationFor(url: URL): Promise<Destination> {
  const options = resolveOptions(sftp.options, {
    path: 'test',
    provider: 'sftp',
    values: { ...sftp.fromUrl(url) },
  });
  return sftp.create(options);
}

/** A fresh remote folder under the harness root. */
export function freshPath(server: SshdHandle, name: string): string {
  return `${server.root}/${name}-${randomBytes(4).toString('hex')}`;
}
