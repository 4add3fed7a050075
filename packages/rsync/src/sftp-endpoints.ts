import type { Destination } from '@nexus-backup/core';
import type { SftpOptions } from './sftp-options.js';

/**
 * How each SFTP destination we created is reached, so `mirror --via rsync` can hand the same host,
 * key and known_hosts to the system ssh without the CLI knowing anything about SFTP.
 */
const endpoints = new WeakMap<Destination, SftpOptions>();

export function rememberEndpoint(destination: Destination, options: SftpOptions): void {
  endpoints.set(destination, options);
}

export function sftpEndpointOf(destination: Destination): SftpOptions | undefined {
  return endpoints.get(destination);
}
