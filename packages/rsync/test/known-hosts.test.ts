import { createHmac, randomBytes } from 'node:crypto';
import { fingerprintOf, parseKnownHosts, verifyHostKey } from '@nexus-backup/rsync';
import { describe, expect, it } from 'vitest';

/** A syntactically valid SSH key blob: string type, then opaque key bytes. */
function keyBlob(type: string): Buffer {
  const name = Buffer.from(type);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(name.length);
  return Buffer.concat([length, name, Buffer.from([0, 0, 0, 32]), randomBytes(32)]);
}

function hashedName(name: string): string {
  const salt = randomBytes(20);
  return `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update(name).digest('base64')}`;
}

const ed = keyBlob('ssh-ed25519');
const otherEd = keyBlob('ssh-ed25519');
const ecdsa = keyBlob('ecdsa-sha2-nistp256');
const line = (hosts: string, key: Buffer, type = 'ssh-ed25519') =>
  `${hosts} ${type} ${key.toString('base64')}`;

describe('known_hosts', () => {
  it('trusts a key listed for [host]:port, and only for that port', () => {
    const entries = parseKnownHosts(`# comment\n\n${line('[backup.example]:2222', ed)}\n`);
    expect(verifyHostKey(entries, 'backup.example', 2222, ed)).toEqual({ status: 'trusted' });
    expect(verifyHostKey(entries, 'backup.example', 22, ed)).toEqual({ status: 'unknown' });
    expect(verifyHostKey(entries, 'other.example', 2222, ed)).toEqual({ status: 'unknown' });
  });

  it('reports another key of the same type for a known host as changed, naming the expected line', () => {
    const entries = parseKnownHosts(
      `${line('a.example', ecdsa, 'ecdsa-sha2-nistp256')}\n${line('backup.example,10.0.0.5', ed)}\n`,
    );
    const verdict = verifyHostKey(entries, '10.0.0.5', 22, otherEd);
    expect(verdict.status).toBe('changed');
    expect(verdict.status === 'changed' && verdict.expected.map((entry) => entry.line)).toEqual([2]);
  });

  it('treats a key of a type the file does not list for the host as unknown, not changed (as OpenSSH does)', () => {
    const entries = parseKnownHosts(line('backup.example', ed));
    expect(verifyHostKey(entries, 'backup.example', 22, ecdsa)).toEqual({ status: 'unknown' });
  });

  it('matches hashed entries (|1|salt|hmac) for plain and [host]:port names', () => {
    const entries = parseKnownHosts(
      `${line(hashedName('backup.example'), ed)}\n${line(hashedName('[10.1.1.1]:2200'), otherEd)}\n`,
    );
    expect(verifyHostKey(entries, 'backup.example', 22, ed)).toEqual({ status: 'trusted' });
    expect(verifyHostKey(entries, '10.1.1.1', 2200, otherEd)).toEqual({ status: 'trusted' });
    expect(verifyHostKey(entries, '10.1.1.1', 2200, ed).status).toBe('changed');
  });

  it('honours wildcards and negated patterns', () => {
    const entries = parseKnownHosts(line('*.backup.example,!evil.backup.example', ed));
    expect(verifyHostKey(entries, 'eu.backup.example', 22, ed)).toEqual({ status: 'trusted' });
    expect(verifyHostKey(entries, 'evil.backup.example', 22, ed)).toEqual({ status: 'unknown' });
  });

  it('refuses a key marked @revoked even when another line trusts it', () => {
    const entries = parseKnownHosts(
      `${line('backup.example', ed)}\n@revoked * ssh-ed25519 ${ed.toString('base64')}\n`,
    );
    expect(verifyHostKey(entries, 'backup.example', 22, ed).status).toBe('revoked');
  });

  it('prints fingerprints the way ssh-keygen -l does (unpadded base64 SHA-256)', () => {
    expect(fingerprintOf(ed)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
  });
});
