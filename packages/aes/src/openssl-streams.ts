import { createCipheriv, createDecipheriv, type Decipheriv, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import type { ByteDecoder, Emit } from './decoder-stream.js';
import { integrityError, requirePassphrase } from './integrity.js';
import {
  deriveOpensslKey,
  type KeyAndIv,
  OPENSSL_HEADER_BYTES,
  OPENSSL_MAGIC,
  OPENSSL_SALT_BYTES,
  type OpensslKdf,
} from './openssl-keys.js';

/** `Salted__` + salt, then AES-256-CBC with PKCS#7 padding: what `openssl enc -aes-256-cbc -salt` writes. */
export class OpensslEncryptStream extends Transform {
  private headerSent = false;
  private readonly cipher;

  constructor(
    { key, iv }: KeyAndIv,
    private readonly salt: Buffer,
  ) {
    super();
    this.cipher = createCipheriv('aes-256-cbc', key, iv);
  }

  static async create(passphrase: string, iter: number): Promise<OpensslEncryptStream> {
    const salt = randomBytes(OPENSSL_SALT_BYTES);
    const keys = await deriveOpensslKey(requirePassphrase(passphrase), salt, {
      pbkdf2: true,
      iter,
      md: 'sha256',
    });
    return new OpensslEncryptStream(keys, salt);
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sendHeader();
    const ciphertext = this.cipher.update(data);
    if (ciphertext.length > 0) this.push(ciphertext);
    callback();
  }

  override _flush(callback: TransformCallback): void {
    this.sendHeader();
    this.push(this.cipher.final());
    callback();
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.push(Buffer.concat([OPENSSL_MAGIC, this.salt]));
  }
}

/**
 * Decrypts `openssl enc -aes-256-cbc` output. CBC carries no authentication: a wrong passphrase only
 * shows as bad padding at the very end, after earlier (garbage) blocks have been emitted. Callers that
 * restore must verify a stored hash first (the transform is declared not authenticated).
 */
export class OpensslDecoder implements ByteDecoder {
  private readonly header = Buffer.alloc(OPENSSL_HEADER_BYTES);
  private headerFilled = 0;
  private decipher: Decipheriv | undefined;
  private ciphertextBytes = 0;

  constructor(
    private readonly passphrase: string,
    private readonly kdf: OpensslKdf,
  ) {
    requirePassphrase(passphrase);
  }

  write(data: Buffer, emit: Emit): void | Promise<void> {
    if (this.decipher) {
      this.decrypt(data, emit);
      return;
    }
    const copied = data.copy(this.header, this.headerFilled);
    this.headerFilled += copied;
    const magicBytes = Math.min(this.headerFilled, OPENSSL_MAGIC.length);
    if (!this.header.subarray(0, magicBytes).equals(OPENSSL_MAGIC.subarray(0, magicBytes))) {
      throw notOpenssl('it does not start with "Salted__" (files made with -nosalt are not supported)');
    }
    if (this.headerFilled < OPENSSL_HEADER_BYTES) return;
    return this.start().then(() => this.decrypt(data.subarray(copied), emit));
  }

  end(emit: Emit): void {
    if (!this.decipher)
      throw notOpenssl(`it is too short (${this.headerFilled} bytes) to hold the Salted__ header`);
    if (this.ciphertextBytes === 0 || this.ciphertextBytes % 16 !== 0) {
      throw integrityError(
        `the openssl file is truncated or corrupted: its ${this.ciphertextBytes} bytes of ciphertext are not a whole number of 16-byte AES blocks`,
      );
    }
    let last: Buffer;
    try {
      last = this.decipher.final();
    } catch (error) {
      throw integrityError(
        'wrong passphrase or not an openssl file: the last block has bad padding',
        kdfHint(this.kdf),
        error,
      );
    }
    emit(last);
  }

  private async start(): Promise<void> {
    const salt = this.header.subarray(OPENSSL_MAGIC.length);
    const { key, iv } = await deriveOpensslKey(this.passphrase, salt, this.kdf);
    this.decipher = createDecipheriv('aes-256-cbc', key, iv);
  }

  private decrypt(data: Buffer, emit: Emit): void {
    if (data.length === 0) return;
    this.ciphertextBytes += data.length;
    const plaintext = this.decipher!.update(data);
    if (plaintext.length > 0) emit(plaintext);
  }
}

function notOpenssl(reason: string) {
  return integrityError(`not an openssl-encrypted file: ${reason}`);
}

function kdfHint(kdf: OpensslKdf): string {
  const used = kdf.pbkdf2
    ? `-pbkdf2 -iter ${kdf.iter ?? 10000} -md ${kdf.md}`
    : `the legacy key derivation with -md ${kdf.md}`;
  return `decryption used ${used}; check the passphrase, and whether the file was made with -pbkdf2/-iter or an older OpenSSL (-md md5)`;
}
