import type { Destination } from '@nexus-backup/core';
import type { SftpOptions } from './sftp-options.js';

/**
 * How each SFTP destination we created is reached, so `mirror --via rsync` can hand the same host,
 * key and known_hosts to the system ssh without the CLI knowing anything about SFTP. A global symbol
 * (not a module-local WeakMap) so it works even when the CLI and the registry load separate copies.
 */
const ENDPOINT = Symbol.for('nexus-backup.sftp.endpoint');

export function rememberEndpoint(destination: Destination, options: SftpOptions): void {
  Object.defineProperty(destination, ENDPOINT, { value: Object.freeze({ ...options }), enumerable: false });
}

export function sftpEndpointOf(destination: Destination): SftpOptions | undefined {
  return (destination as unknown as Record<symbol, SftpOptions | undefined>)[ENDPOINT];
}
