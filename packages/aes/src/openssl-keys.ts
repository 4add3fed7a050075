import { createHash, pbkdf2 } from 'node:crypto';

/** How `openssl enc` turned the passphrase into key and IV. */
export interface OpensslKdf {
  /** `-pbkdf2` (OpenSSL >= 1.1.1); false means the legacy EVP_BytesToKey derivation. */
  pbkdf2: boolean;
  /** `-iter N`; openssl's default with -pbkdf2 is 10000. Ignored for the legacy derivation. */
  iter?: number;
  /** `-md`: sha256 is the default since OpenSSL 1.1.0; md5 was the default before. */
  md: 'sha256' | 'md5';
}

export const OPENSSL_DEFAULT_PBKDF2_ITER = 10_000;
export const OPENSSL_MAGIC = Buffer.from('Salted__', 'ascii');
export const OPENSSL_SALT_BYTES = 8;
export const OPENSSL_HEADER_BYTES = OPENSSL_MAGIC.length + OPENSSL_SALT_BYTES;

export interface KeyAndIv {
  key: Buffer;
  iv: Buffer;
}

/** Key (32 bytes) and IV (16 bytes) for aes-256-cbc exactly as `openssl enc` derives them. */
export async function deriveOpensslKey(passphrase: string, salt: Buffer, kdf: OpensslKdf): Promise<KeyAndIv> {
  const secret = Buffer.from(passphrase, 'utf8');
  const material = kdf.pbkdf2
    ? await pbkdf2Async(secret, salt, kdf.iter ?? OPENSSL_DEFAULT_PBKDF2_ITER, 48, kdf.md)
    : evpBytesToKey(secret, salt, 48, kdf.md);
  return { key: material.subarray(0, 32), iv: material.subarray(32, 48) };
}

/** OpenSSL's legacy EVP_BytesToKey with count 1: D_i = md(D_{i-1} || passphrase || salt). */
function evpBytesToKey(secret: Buffer, salt: Buffer, bytes: number, md: string): Buffer {
  const blocks: Buffer[] = [];
  let total = 0;
  let previous = Buffer.alloc(0);
  while (total < bytes) {
    previous = createHash(md).update(previous).update(secret).update(salt).digest();
    blocks.push(previous);
    total += previous.length;
  }
  return Buffer.concat(blocks).subarray(0, bytes);
}

function pbkdf2Async(secret: Buffer, salt: Buffer, iter: number, bytes: number, md: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2(secret, salt, iter, bytes, md, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** The command an operator runs to decrypt our compatibility output without nexus-backup. */
export function opensslDecryptCommand(iter: number): string {
  return `openssl enc -d -aes-256-cbc -pbkdf2 -iter ${iter} -md sha256 -in FILE -out OUT`;
}
