import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NexusError } from '@nexus-backup/core';
import { createHostKeyCheck, defaultKnownHostsFile } from './host-verification.js';
import { keyTypeOf, knownHostsName, parseKnownHosts } from './known-hosts.js';
import type { SftpOptions } from './sftp-options.js';

const run = promisify(execFile);

/**
 * Options for the system `ssh` that make it decide exactly as the ssh2 transport does: only the
 * given known_hosts file (no global one, no `~/.ssh/config`), unknown or changed keys refused,
 * never a prompt, and the known_hosts file left as it is. No secret is ever part of these.
 */
export function systemSshOptions(endpoint: SftpOptions, knownHostsFile: string): string[] {
  const args = [
    '-F',
    'none',
    '-p',
    String(endpoint.port),
    '-o',
    'BatchMode=yes',
    '-o',
    'StrictHostKeyChecking=yes',
    '-o',
    `UserKnownHostsFile=${knownHostsFile}`,
    '-o',
    'GlobalKnownHostsFile=/dev/null',
    '-o',
    'UpdateHostKeys=no',
    '-o',
    `ConnectTimeout=${endpoint.connectTimeout}`,
    '-o',
    `ServerAliveInterval=${endpoint.keepalive}`,
    '-o',
    'ServerAliveCountMax=3',
    // OpenSSH's default ciphers with AES-GCM first: with hardware AES (any x86-64 or ARMv8 server of
    // the last decade) it costs both ends about half the CPU of chacha20-poly1305, OpenSSH's first
    // choice (measured here: 0.17 s against 0.30 s of client CPU per 200 MiB). The same six as
    // OpenSSH's default list, so a server that accepts the defaults accepts these.
    '-c',
    'aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr',
  ];
  // IdentitiesOnly: offering every agent key first can hit the server's MaxAuthTries before ours
  if (endpoint.identity) args.push('-i', endpoint.identity, '-o', 'IdentitiesOnly=yes');
  if (endpoint.agent === false) args.push('-o', 'IdentityAgent=none');
  if (endpoint.user) args.push('-l', endpoint.user);
  return args;
}

/**
 * The known_hosts file the system ssh verifies a pinned fingerprint against, which has no OpenSSH
 * option: the server's keys are scanned, the one whose fingerprint matches is written to a file in
 * `scratch`, and ssh then makes the server prove it holds that key. No match is refused with the
 * ssh2 transport's message.
 */
export async function knownHostsForPinnedKey(endpoint: SftpOptions, scratch: string): Promise<string> {
  const check = await createHostKeyCheck(endpoint);
  const scanned = await scanHostKeys(endpoint);
  const match = scanned.find((key) => check.verify(key));
  if (!match) {
    throw (
      check.refusal ??
      new NexusError('CONNECTION', `${endpoint.host}:${endpoint.port} presented no host key to compare`, {
        provider: 'sftp',
        hint: `check that sshd runs there: ssh-keyscan -p ${endpoint.port} ${endpoint.host}`,
      })
    );
  }
  const file = join(scratch, 'known_hosts');
  await writeFile(
    file,
    `${knownHostsName(endpoint.host, endpoint.port)} ${keyTypeOf(match)} ${match.toString('base64')}\n`,
  );
  return file;
}

/**
 * Why ssh said "Host key verification failed": the server's keys judged by the ssh2 transport's
 * rules, so both transports refuse a host with the same message and hint.
 */
export async function explainHostKeyFailure(endpoint: SftpOptions): Promise<NexusError> {
  const scanned = await scanHostKeys(endpoint).catch(() => []);
  const refusals: NexusError[] = [];
  for (const key of scanned) {
    const check = await createHostKeyCheck(endpoint);
    if (check.verify(key)) {
      refusals.length = 0; // a trusted key: the refusal was not about the keys we can judge
      break;
    }
    if (check.refusal) refusals.push(check.refusal);
  }
  // a changed or revoked key of a type the file knows says more than another type it does not
  const telling = refusals.find((refusal) => !refusal.message.includes('is not in')) ?? refusals[0];
  if (telling) return telling;
  return new NexusError(
    'CONNECTION',
    `ssh refused the host key of ${endpoint.host}:${endpoint.port} (Host key verification failed)`,
    {
      provider: 'sftp',
      hint: `compare the server's key (ssh-keyscan -p ${endpoint.port} ${endpoint.host}) with ${endpoint.knownHosts ?? defaultKnownHostsFile()}`,
    },
  );
}

/** The host keys the server offers, unauthenticated: only ever compared, never trusted as such. */
async function scanHostKeys(endpoint: SftpOptions): Promise<Buffer[]> {
  try {
    const { stdout } = await run(
      'ssh-keyscan',
      ['-p', String(endpoint.port), '-T', String(endpoint.connectTimeout), endpoint.host],
      { timeout: (endpoint.connectTimeout + 5) * 1000 },
    );
    return parseKnownHosts(stdout).map((entry) => entry.key);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new NexusError('USAGE', 'ssh-keyscan is not installed', {
        provider: 'sftp',
        hint: 'install the OpenSSH client (apt-get install openssh-client), or drop transport=ssh',
      });
    }
    throw error;
  }
}
