import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { NexusError } from '@nexus-backup/core';

/** One usable line of a known_hosts file. */
export interface KnownHostEntry {
  marker: 'cert-authority' | 'revoked' | undefined;
  patterns: string[];
  keyType: string;
  key: Buffer;
  line: number;
}

/** What a presented host key means for one host, as OpenSSH would decide it. */
export type HostKeyVerdict =
  | { status: 'trusted' }
  | { status: 'unknown' }
  | { status: 'revoked'; entry: KnownHostEntry }
  | { status: 'changed'; expected: KnownHostEntry[] };

/** `SHA256:...` exactly as `ssh-keygen -l` prints it (unpadded base64). */
export function fingerprintOf(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH public key blob (its first string), e.g. `ssh-ed25519`. */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return 'unknown';
  const length = key.readUInt32BE(0);
  return key.subarray(4, 4 + length).toString('latin1');
}

/** How known_hosts names a host: `host` on port 22, `[host]:port` otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  const lines = text.split(/\r?\n/);
  for (const [index, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker: KnownHostEntry['marker'];
    if (fields[0]?.startsWith('@')) {
      const name = fields.shift();
      if (name === '@revoked') marker = 'revoked';
      else if (name === '@cert-authority') marker = 'cert-authority';
      else continue;
    }
    const [hosts, keyType, base64] = fields;
    if (!hosts || !keyType || !base64) continue;
    const key = Buffer.from(base64, 'base64');
    if (key.length === 0) continue;
    entries.push({ marker, patterns: hosts.split(','), keyType, key, line: index + 1 });
  }
  return entries;
}

/** Read synchronously (a small file): connecting then starts without waiting for a busy event loop. */
export async function readKnownHosts(file: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(readFileSync(file, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw new NexusError('CONFIG', `cannot read known_hosts file ${file}: ${(error as Error).message}`, {
      provider: 'sftp',
      cause: error,
    });
  }
}

/** The entries (without cert-authority lines, which we do not support) that name this host. */
export function entriesForHost(entries: KnownHostEntry[], host: string, port: number): KnownHostEntry[] {
  const name = knownHostsName(host, port);
  return entries.filter((entry) => entry.marker !== 'cert-authority' && matchesHost(entry.patterns, name));
}

export function verifyHostKey(
  entries: KnownHostEntry[],
  host: string,
  port: number,
  key: Buffer,
): HostKeyVerdict {
  const forHost = entriesForHost(entries, host, port);
  const revoked = entries.find((entry) => entry.marker === 'revoked' && entry.key.equals(key));
  if (revoked) return { status: 'revoked', entry: revoked };
  const plain = forHost.filter((entry) => entry.marker === undefined);
  if (plain.some((entry) => entry.key.equals(key))) return { status: 'trusted' };
  // Like OpenSSH: a known key of another type is not a change (the server may hold several keys).
  const sameType = plain.filter((entry) => entry.keyType === keyTypeOf(key));
  return sameType.length > 0 ? { status: 'changed', expected: sameType } : { status: 'unknown' };
}

/** Patterns of one line: plain names, `*`/`?` wildcards, `!negations`, or one hashed `|1|salt|hash`. */
function matchesHost(patterns: string[], name: string): boolean {
  let matched = false;
  for (const pattern of patterns) {
    if (pattern.startsWith('|1|')) {
      if (matchesHashed(pattern, name)) matched = true;
      continue;
    }
    const negated = pattern.startsWith('!');
    const glob = negated ? pattern.slice(1) : pattern;
    if (globMatches(glob.toLowerCase(), name.toLowerCase())) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

function matchesHashed(pattern: string, name: string): boolean {
  const [, , salt, hash] = pattern.split('|');
  if (!salt || !hash) return false;
  const computed = createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
  return computed === hash;
}

function globMatches(glob: string, text: string): boolean {
  const source = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${source}$`).test(text);
}

/** ssh2 host key algorithms that can present a key of a known_hosts key type. */
export function algorithmsForKeyType(keyType: string): string[] {
  if (keyType === 'ssh-rsa') return ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];
  if (keyType === 'ssh-ed25519' || keyType.startsWith('ecdsa-sha2-nistp')) return [keyType];
  return [];
}
