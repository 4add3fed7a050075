import { defineDestination, type MirrorRequest, resolveOptions } from '@nexus-backup/core';
import { sftpOptions, sftpOptionsFromUrl } from './sftp-options.js';

export { fingerprintOf, knownHostsName, parseKnownHosts, verifyHostKey } from './known-hosts.js';
export { sftpEndpointOf } from './sftp-endpoints.js';
export { type SftpOptions, sftpOptions, sftpOptionsFromUrl } from './sftp-options.js';

/**
 * A repository on a remote host over SSH: `sftp://user@host[:port]/path?identity=...&knownHosts=...`.
 * ssh2 is loaded only when a destination is created, so `nexus-backup --help` stays light.
 */
export const sftp = defineDestination({
  name: 'sftp',
  description: 'a folder on a remote host over SSH (SFTP), host keys verified against known_hosts',
  schemes: ['sftp', 'ssh'],
  options: sftpOptions,
  fromUrl: sftpOptionsFromUrl,
  argvSecrets: {
    hint: 'use a key (?identity=FILE) or ssh-agent; for a config repository put the URL in an environment variable and write $VAR',
  },
  async create(options) {
    // Direct callers (scripts, tests) may hand over fromUrl output: fill defaults and check types here too.
    const resolved = resolveOptions(sftpOptions, { path: 'sftp', provider: 'sftp', values: { ...options } });
    // transport=ssh: the system OpenSSH client moves the bytes (its native crypto is faster than ssh2's)
    const destination =
      resolved.transport === 'ssh'
        ? (await import('./shell-destination.js')).createShellDestination(resolved)
        : (await import('./sftp-destination.js')).createSftpDestination(resolved);
    return Object.assign(destination, {
      // `mirror --via rsync`: core's mirror hands this the source it has read; the system rsync moves the bytes.
      mirrorMethods: {
        sftp: 'stream' as const, // the name `--via` used for the streaming path before it moved to core
        rsync: async (request: MirrorRequest) => (await import('./mirror-rsync.js')).mirrorWithRsync(request),
      },
    });
  },
});
