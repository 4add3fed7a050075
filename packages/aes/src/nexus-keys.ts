import { createHash, createHmac, hkdfSync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';
import { integrityError } from './integrity.js';
import {
  HEADER_MAC_BYTES,
  type HeaderFields,
  KEY_CHECK_BYTES,
  macCoveredBytes,
  OFFSET,
  SALT_BYTES,
  type ScryptParams,
  scryptMemoryBytes,
} from './nexus-format.js';

const LABEL = 'nexus-backup aes v1';

/** The scrypt output for one (passphrase, salt, params); every file key is derived from it with HKDF. */
export interface MasterKey {
  salt: Buffer;
  scrypt: ScryptParams;
  key: Buffer;
}

export function deriveMasterKey(passphrase: string, salt: Buffer, params: ScryptParams): Promise<MasterKey> {
  const N = 2 ** params.logN;
  // Node refuses scrypt above maxmem; allow what these params need plus scrypt's own p-sized buffer.
  const maxmem = scryptMemoryBytes(params) + 128 * params.r * params.p + 1024 * 1024;
  return new Promise((resolve, reject) => {
    scrypt(
      Buffer.from(passphrase, 'utf8'),
      salt,
      32,
      { N, r: params.r, p: params.p, maxmem },
      (error, key) => {
        if (error) reject(error);
        else resolve({ salt: Buffer.from(salt), scrypt: params, key });
      },
    );
  });
}

function subkey(master: MasterKey, fileId: Buffer, purpose: string, bytes: number): Buffer {
  return Buffer.from(hkdfSync('sha256', master.key, fileId, `${LABEL} ${purpose}`, bytes));
}

/** Depends only on passphrase, salt and scrypt params, so a mismatch means "wrong passphrase". */
export function keyCheck(master: MasterKey): Buffer {
  return subkey(master, Buffer.alloc(0), 'key check', KEY_CHECK_BYTES);
}

/** A unique AES-256-GCM key per file (the random file id is the HKDF salt), so chunk nonces can count. */
export function payloadKey(master: MasterKey, fileId: Buffer): Buffer {
  return subkey(master, fileId, 'payload key', 32);
}

export function headerMac(master: MasterKey, fileId: Buffer, header: Buffer): Buffer {
  const macKey = subkey(master, fileId, 'header mac key', 32);
  return createHmac('sha256', macKey).update(macCoveredBytes(header)).digest().subarray(0, HEADER_MAC_BYTES);
}

/** Checks key check then MAC of a parsed header; returns the file's payload key. */
export function openHeader(master: MasterKey, header: Buffer, fields: HeaderFields): Buffer {
  const storedCheck = header.subarray(OFFSET.keyCheck, OFFSET.keyCheck + KEY_CHECK_BYTES);
  if (!timingSafeEqual(keyCheck(master), storedCheck)) {
    throw integrityError(
      'wrong passphrase: it does not match the key check in the header (nothing was decrypted)',
      'check NEXUS_BACKUP_PASSPHRASE, --passphrase-file or --passphrase-env',
    );
  }
  const storedMac = header.subarray(OFFSET.headerMac, OFFSET.headerMac + HEADER_MAC_BYTES);
  if (!timingSafeEqual(headerMac(master, fields.fileId, header), storedMac)) {
    throw integrityError('the header failed authentication: it was modified after encryption');
  }
  return payloadKey(master, fields.fileId);
}

/**
 * Remembers derived master keys so a backup with several artifacts (or a restore of them) pays the
 * deliberately slow scrypt once, not once per file. Keyed by a digest, never by the passphrase itself.
 */
export class MasterKeyCache {
  private readonly keys = new Map<string, Promise<MasterKey>>();

  get(passphrase: string, salt: Buffer, params: ScryptParams): Promise<MasterKey> {
    const id = createHash('sha256')
      .update(`${params.logN}:${params.r}:${params.p}:${salt.toString('hex')}:`)
      .update(passphrase, 'utf8')
      .digest('hex');
    let key = this.keys.get(id);
    if (!key) {
      key = deriveMasterKey(passphrase, salt, params);
      key.catch(() => this.keys.delete(id));
      this.keys.set(id, key);
    }
    return key;
  }

  /** The key a fresh encoder uses: one random salt per cache (one per transform instance). */
  private encryptSalt: Buffer | undefined;
  forEncryption(passphrase: string, params: ScryptParams): Promise<MasterKey> {
    this.encryptSalt ??= randomBytes(SALT_BYTES);
    return this.get(passphrase, this.encryptSalt, params);
  }

  /** The salt every file this cache encrypted carries (not a secret: each header holds it too). */
  get encryptionSalt(): Buffer | undefined {
    return this.encryptSalt;
  }
}
