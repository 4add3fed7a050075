import { addAbortSignal, type Duplex } from 'node:stream';
import { type ByteDecoder, DecoderStream, type Emit } from './decoder-stream.js';
import { integrityError, requirePassphrase } from './integrity.js';
import { NexusDecoder } from './nexus-decoder.js';
import { MAGIC } from './nexus-format.js';
import { MasterKeyCache } from './nexus-keys.js';
import { OPENSSL_MAGIC, type OpensslKdf } from './openssl-keys.js';
import { OpensslDecoder } from './openssl-streams.js';

export interface DecryptStreamOptions {
  passphrase: string;
  /**
   * How an openssl file's key was derived. Used only when the input is not in the nexus format (which
   * is recognised by its magic). Default: `{ pbkdf2: false, md: 'sha256' }`, what
   * `openssl enc -aes-256-cbc -salt` does on OpenSSL >= 1.1 without -pbkdf2.
   */
  openssl?: OpensslKdf;
  signal?: AbortSignal;
  /** Shares derived keys between streams (e.g. several files with one passphrase). */
  keyCache?: MasterKeyCache;
}

/** The legacy derivation `openssl enc -aes-256-cbc -salt` uses by default since OpenSSL 1.1. */
export const OPENSSL_ENC_DEFAULT_KDF: OpensslKdf = { pbkdf2: false, md: 'sha256' };

/**
 * Decrypts one file without a repository: the nexus format (authenticated; detected by its magic), or
 * `openssl enc -aes-256-cbc` output with the key derivation named in `openssl`.
 */
export function createDecryptStream(options: DecryptStreamOptions): Duplex {
  requirePassphrase(options.passphrase);
  const decoder = new FormatDetectingDecoder(
    () => new NexusDecoder(options.passphrase, options.keyCache ?? new MasterKeyCache()),
    () => new OpensslDecoder(options.passphrase, options.openssl ?? OPENSSL_ENC_DEFAULT_KDF),
  );
  const stream = new DecoderStream(decoder);
  return options.signal ? addAbortSignal(options.signal, stream) : stream;
}

/** Holds back the first 8 bytes until it can tell the nexus magic from openssl's `Salted__`. */
class FormatDetectingDecoder implements ByteDecoder {
  private prefix = Buffer.alloc(0);
  private inner: ByteDecoder | undefined;

  constructor(
    private readonly nexus: () => ByteDecoder,
    private readonly openssl: () => ByteDecoder,
  ) {}

  write(data: Buffer, emit: Emit): void | Promise<void> {
    if (this.inner) return this.inner.write(data, emit);
    this.prefix = Buffer.concat([this.prefix, data]);
    if (this.prefix.length < MAGIC.length) return;
    this.inner = this.choose(this.prefix);
    const buffered = this.prefix;
    this.prefix = Buffer.alloc(0);
    return this.inner.write(buffered, emit);
  }

  end(emit: Emit): void | Promise<void> {
    if (!this.inner) {
      throw integrityError(
        `the file is too short (${this.prefix.length} bytes) to be encrypted by nexus-backup or openssl`,
      );
    }
    return this.inner.end(emit);
  }

  private choose(prefix: Buffer): ByteDecoder {
    const magic = prefix.subarray(0, MAGIC.length);
    if (magic.equals(MAGIC)) return this.nexus();
    if (magic.equals(OPENSSL_MAGIC)) return this.openssl();
    throw integrityError(
      'not an encrypted file this tool can read: it starts with neither the nexus-backup magic (NEXUSAES) nor openssl\'s "Salted__"',
    );
  }
}
