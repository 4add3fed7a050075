import { homedir } from 'node:os';
import { join } from 'node:path';
import { NexusError } from '@nexus-backup/core';
import {
  algorithmsForKeyType,
  entriesForHost,
  fingerprintOf,
  keyTypeOf,
  knownHostsName,
  readKnownHosts,
  verifyHostKey,
} from './known-hosts.js';
import type { SftpOptions } from './sftp-options.js';

/** Decides on the host key during the handshake; `refusal` explains a rejected key afterwards. */
export interface HostKeyCheck {
  verify(key: Buffer): boolean;
  /** Host key algorithms to offer, so the server presents a key we know (OpenSSH does the same). */
  algorithms: string[] | undefined;
  refusal: NexusError | undefined;
  /** The key the server presented, once verified. */
  presentedKey: Buffer | undefined;
}

export function defaultKnownHostsFile(): string {
  return join(homedir(), '.ssh', 'known_hosts');
}

export async function createHostKeyCheck(options: SftpOptions): Promise<HostKeyCheck> {
  const { host, port } = options;
  const where = `${host}:${port}`;
  const scan = `ssh-keyscan -p ${port} ${host}`;
  const check: HostKeyCheck = {
    verify: () => false,
    algorithms: undefined,
    refusal: undefined,
    presentedKey: undefined,
  };
  const refuse = (message: string, hint: string) => {
    check.refusal = new NexusError('CONNECTION', message, { provider: 'sftp', hint });
    return false;
  };

  if (options.fingerprint) {
    const pinned = normalizeFingerprint(options.fingerprint);
    check.verify = (key) => {
      const presented = fingerprintOf(key);
      if (presented === pinned) {
        check.presentedKey = key;
        return true;
      }
      return refuse(
        `host key of ${where} does not match the pinned fingerprint: it presents ${keyTypeOf(key)} ${presented}, expected ${pinned}; refusing to connect (possible man-in-the-middle, or the server was reinstalled)`,
        'if the change is expected, confirm the new fingerprint with the server administrator and update fingerprint=',
      );
    };
    return check;
  }

  const file = options.knownHosts ?? defaultKnownHostsFile();
  const entries = await readKnownHosts(file);
  const known = entriesForHost(entries, host, port).filter((entry) => entry.marker === undefined);
  const algorithms = [...new Set(known.flatMap((entry) => algorithmsForKeyType(entry.keyType)))];
  check.algorithms = algorithms.length > 0 ? algorithms : undefined;
  check.verify = (key) => {
    const verdict = verifyHostKey(entries, host, port, key);
    const presented = `${keyTypeOf(key)} ${fingerprintOf(key)}`;
    switch (verdict.status) {
      case 'trusted':
        check.presentedKey = key;
        return true;
      case 'unknown':
        return refuse(
          `host key of ${where} (${presented}) is not in ${file}; refusing to connect to an unverified host`,
          `confirm the fingerprint with the server administrator, then add the key: ${scan} >> ${file}, or pin it with fingerprint=${fingerprintOf(key)}`,
        );
      case 'revoked':
        return refuse(
          `host key of ${where} (${presented}) is marked @revoked in ${file} (line ${verdict.entry.line}); refusing to connect`,
          'the server must get a new host key',
        );
      case 'changed': {
        const expected = verdict.expected
          .map((entry) => `${fingerprintOf(entry.key)} (line ${entry.line})`)
          .join(', ');
        return refuse(
          `host key of ${where} HAS CHANGED: it presents ${presented}, but ${file} expects ${expected}; refusing to connect (possible man-in-the-middle, or the server was reinstalled)`,
          `if the change is expected, remove the old key with: ssh-keygen -R "${knownHostsName(host, port)}" -f ${file}, then add the new one: ${scan} >> ${file}`,
        );
      }
    }
  };
  return check;
}

function normalizeFingerprint(value: string): string {
  const trimmed = value.trim().replace(/=+$/, '');
  if (!/^SHA256:[A-Za-z0-9+/]{43}$/.test(trimmed)) {
    throw new NexusError(
      'USAGE',
      `fingerprint must look like SHA256:<43 base64 characters>, got "${value}"`,
      {
        provider: 'sftp',
        hint: 'print it on the server with: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub',
      },
    );
  }
  return trimmed;
}
