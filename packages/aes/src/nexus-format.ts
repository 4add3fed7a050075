import { createHash } from 'node:crypto';
import { integrityError } from './integrity.js';

/**
 * The nexus-backup encrypted file format, version 1 (documented byte by byte in README.md).
 *
 * header (129 bytes) | frame 0 | frame 1 | ... | final frame
 * frame = u32be (bit 31: final flag, bits 0-30: plaintext length) | ciphertext | 16-byte GCM tag
 */
export const MAGIC = Buffer.from('NEXUSAES', 'ascii');
export const FORMAT_VERSION = 1;
export const KDF_SCRYPT = 1;

export const SALT_BYTES = 32;
export const FILE_ID_BYTES = 16;
export const KEY_CHECK_BYTES = 16;
export const HEADER_MAC_BYTES = 32;
export const HEADER_CHECKSUM_BYTES = 16;
export const TAG_BYTES = 16;
export const FRAME_HEADER_BYTES = 4;
export const FINAL_FLAG = 0x8000_0000;

export const OFFSET = {
  magic: 0,
  version: 8,
  kdf: 9,
  scryptLogN: 10,
  scryptR: 11,
  scryptP: 12,
  salt: 13,
  chunkSize: 45,
  fileId: 49,
  keyCheck: 65,
  headerMac: 81,
  checksum: 113,
} as const;
export const HEADER_BYTES = OFFSET.checksum + HEADER_CHECKSUM_BYTES; // 129

/** Bounds that keep a decoder's memory and KDF cost sane even for a crafted header. */
export const LIMITS = {
  minChunkSize: 1024,
  maxChunkSize: 16 * 1024 * 1024,
  minScryptLogN: 10,
  maxScryptLogN: 22,
  maxScryptR: 32,
  maxScryptP: 16,
  maxScryptMemory: 2 * 1024 * 1024 * 1024,
} as const;

export interface ScryptParams {
  logN: number;
  r: number;
  p: number;
}

export interface HeaderFields {
  scrypt: ScryptParams;
  salt: Buffer;
  chunkSize: number;
  fileId: Buffer;
}

/** Bytes covered by the header MAC: everything before the MAC itself. */
export function macCoveredBytes(header: Buffer): Buffer {
  return header.subarray(0, OFFSET.headerMac);
}

export function headerChecksum(header: Buffer): Buffer {
  return createHash('sha256')
    .update(header.subarray(0, OFFSET.checksum))
    .digest()
    .subarray(0, HEADER_CHECKSUM_BYTES);
}

/** Writes the key-independent fields; the caller fills key check and MAC, then seals the checksum. */
export function writeHeaderFields(fields: HeaderFields): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, OFFSET.magic);
  header[OFFSET.version] = FORMAT_VERSION;
  header[OFFSET.kdf] = KDF_SCRYPT;
  header[OFFSET.scryptLogN] = fields.scrypt.logN;
  header[OFFSET.scryptR] = fields.scrypt.r;
  header[OFFSET.scryptP] = fields.scrypt.p;
  fields.salt.copy(header, OFFSET.salt);
  header.writeUInt32BE(fields.chunkSize, OFFSET.chunkSize);
  fields.fileId.copy(header, OFFSET.fileId);
  return header;
}

export function sealHeaderChecksum(header: Buffer): void {
  headerChecksum(header).copy(header, OFFSET.checksum);
}

/** Returns a problem with scrypt parameters, or undefined when they are within LIMITS. */
export function scryptParamsProblem({ logN, r, p }: ScryptParams): string | undefined {
  if (!Number.isInteger(logN) || logN < LIMITS.minScryptLogN || logN > LIMITS.maxScryptLogN) {
    return `scrypt log2(N) must be an integer from ${LIMITS.minScryptLogN} to ${LIMITS.maxScryptLogN}, got ${logN}`;
  }
  if (!Number.isInteger(r) || r < 1 || r > LIMITS.maxScryptR) {
    return `scrypt r must be an integer from 1 to ${LIMITS.maxScryptR}, got ${r}`;
  }
  if (!Number.isInteger(p) || p < 1 || p > LIMITS.maxScryptP) {
    return `scrypt p must be an integer from 1 to ${LIMITS.maxScryptP}, got ${p}`;
  }
  if (scryptMemoryBytes({ logN, r, p }) > LIMITS.maxScryptMemory) {
    return `scrypt N=2^${logN} r=${r} needs more than ${LIMITS.maxScryptMemory / 2 ** 30} GiB of memory`;
  }
  return undefined;
}

export function scryptMemoryBytes({ logN, r }: ScryptParams): number {
  return 128 * 2 ** logN * r;
}

export function chunkSizeProblem(chunkSize: number): string | undefined {
  if (!Number.isInteger(chunkSize) || chunkSize < LIMITS.minChunkSize || chunkSize > LIMITS.maxChunkSize) {
    return `chunk size must be an integer from ${LIMITS.minChunkSize} to ${LIMITS.maxChunkSize} bytes, got ${chunkSize}`;
  }
  return undefined;
}

/**
 * Parses a complete header and checks everything that needs no key: magic, version, checksum, bounds.
 * Key check and MAC are verified by the caller once the key is derived.
 */
export function parseHeader(header: Buffer): HeaderFields {
  checkMagic(header);
  const version = header[OFFSET.version];
  if (version !== FORMAT_VERSION) {
    throw integrityError(
      `the header declares format version ${version}, which this build cannot read (a newer nexus-backup wrote it, or the header is corrupted)`,
      'decrypt it with a newer nexus-backup',
    );
  }
  if (!headerChecksum(header).equals(header.subarray(OFFSET.checksum, HEADER_BYTES))) {
    throw integrityError('the header is corrupted (checksum mismatch): bytes of the file were changed');
  }
  const kdf = header[OFFSET.kdf];
  if (kdf !== KDF_SCRYPT)
    throw integrityError(`the header names an unknown key derivation function (id ${kdf})`);
  const scrypt = { logN: header[OFFSET.scryptLogN]!, r: header[OFFSET.scryptR]!, p: header[OFFSET.scryptP]! };
  const scryptProblem = scryptParamsProblem(scrypt);
  if (scryptProblem)
    throw integrityError(`the header has unsupported key derivation parameters: ${scryptProblem}`);
  const chunkSize = header.readUInt32BE(OFFSET.chunkSize);
  const chunkProblem = chunkSizeProblem(chunkSize);
  if (chunkProblem) throw integrityError(`the header has an unsupported ${chunkProblem}`);
  return {
    scrypt,
    salt: header.subarray(OFFSET.salt, OFFSET.salt + SALT_BYTES),
    chunkSize,
    fileId: header.subarray(OFFSET.fileId, OFFSET.fileId + FILE_ID_BYTES),
  };
}

/** Throws the "foreign file" error as soon as the first bytes cannot be our magic. */
export function checkMagic(prefix: Buffer): void {
  const length = Math.min(prefix.length, MAGIC.length);
  if (!prefix.subarray(0, length).equals(MAGIC.subarray(0, length))) {
    throw integrityError(
      'not a nexus-backup encrypted file (its first bytes are not the NEXUSAES magic)',
      'a file made by `openssl enc` is decrypted with `nexus-backup decrypt FILE --openssl`',
    );
  }
}

export function isNexusMagic(prefix: Buffer): boolean {
  return prefix.length >= MAGIC.length && prefix.subarray(0, MAGIC.length).equals(MAGIC);
}

/** GCM nonce of a chunk: 3 zero bytes, u64be chunk index, final flag byte (0 or 1). */
export function chunkNonce(index: number, final: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUInt32BE(Math.floor(index / 2 ** 32), 3);
  nonce.writeUInt32BE(index >>> 0, 7);
  nonce[11] = final ? 1 : 0;
  return nonce;
}

export function frameHeader(plaintextLength: number, final: boolean): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE((final ? FINAL_FLAG : 0) + plaintextLength, 0);
  return header;
}
