import { createCipheriv, createSecretKey, type KeyObject, randomBytes } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import {
  chunkNonce,
  FILE_ID_BYTES,
  FINAL_FLAG,
  FRAME_HEADER_BYTES,
  OFFSET,
  sealHeaderChecksum,
  TAG_BYTES,
  writeHeaderFields,
} from './nexus-format.js';
import { headerMac, keyCheck, type MasterKey, payloadKey } from './nexus-keys.js';

/**
 * What the stages before encryption may pass on while the key is still being derived (scrypt at the
 * default cost: ~0.35 s and 128 MiB, once per run): compression keeps running meanwhile, so the first
 * COPY of a backup no longer waits for the KDF. Past this much the stream applies backpressure.
 */
export const MAX_BYTES_BEFORE_KEY = 8 * 1024 * 1024;

/**
 * Encrypts one file in the nexus format. A full chunk is held back until more input arrives, because
 * only then is it known whether it is the final chunk (whose nonce and frame header carry the flag).
 * Partial input is gathered in one reused buffer; whole chunks in the input are encrypted in place.
 * The key comes as a promise (scrypt runs on the thread pool): input that comes before it is kept (up
 * to MAX_BYTES_BEFORE_KEY) and encrypted once it arrives; a key that fails destroys the stream.
 */
export class NexusEncryptStream extends Transform {
  private key: KeyObject | undefined;
  private header: Buffer | undefined;
  private readonly chunkSize: number;
  /** Plaintext of the chunk being assembled, reused for every chunk. */
  private readonly pending: Buffer;
  private filled = 0;
  /** A full chunk waiting for proof that it is not the last: a view of the input, or `pending`. */
  private heldBack: Buffer | undefined;
  private index = 0;
  private headerSent = false;
  /** Input that came before the key, and the callback held once it reached the cap. */
  private beforeKey: Buffer[] = [];
  private beforeKeyBytes = 0;
  private resumeWhenKeyed: TransformCallback | undefined;
  /** Settles either way: a failed derivation, or a failure encrypting what was held, destroys the stream. */
  private readonly keyed: Promise<void>;

  constructor(master: Promise<MasterKey>, chunkSize: number) {
    super();
    this.chunkSize = chunkSize;
    this.pending = Buffer.allocUnsafe(chunkSize);
    this.keyed = master
      .then((derived) => this.startWithKey(derived))
      .catch((error: unknown) => {
        this.destroy(error as Error);
      });
  }

  private useKey(master: MasterKey): void {
    const fileId = randomBytes(FILE_ID_BYTES);
    // A KeyObject, because a raw key costs a fresh key import on every per-chunk cipher.
    this.key = createSecretKey(payloadKey(master, fileId));
    this.header = writeHeaderFields({
      scrypt: master.scrypt,
      salt: master.salt,
      chunkSize: this.chunkSize,
      fileId,
    });
    keyCheck(master).copy(this.header, OFFSET.keyCheck);
    headerMac(master, fileId, this.header).copy(this.header, OFFSET.headerMac);
    sealHeaderChecksum(this.header);
  }

  private startWithKey(master: MasterKey): void {
    if (this.destroyed) return;
    this.useKey(master);
    for (const data of this.beforeKey) this.encrypt(data);
    this.beforeKey = [];
    this.beforeKeyBytes = 0;
    const resume = this.resumeWhenKeyed;
    this.resumeWhenKeyed = undefined;
    resume?.();
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.key === undefined) {
      this.beforeKey.push(data);
      this.beforeKeyBytes += data.length;
      if (this.beforeKeyBytes < MAX_BYTES_BEFORE_KEY) callback();
      else this.resumeWhenKeyed = callback;
      return;
    }
    this.encrypt(data);
    callback();
  }

  private encrypt(data: Buffer): void {
    this.sendHeader();
    let offset = 0;
    while (offset < data.length) {
      if (this.heldBack) {
        // More input exists, so the held-back chunk is not the final one.
        this.pushFrame(this.heldBack, false);
        this.heldBack = undefined;
      }
      const remaining = data.length - offset;
      if (this.filled === 0 && remaining >= this.chunkSize) {
        // A whole chunk sits in the input: hold a view of it instead of copying it (a written buffer
        // belongs to the stream; Node's own producers such as fs and zlib never reuse one).
        this.heldBack = data.subarray(offset, offset + this.chunkSize);
        offset += this.chunkSize;
        continue;
      }
      const copied = data.copy(
        this.pending,
        this.filled,
        offset,
        offset + Math.min(remaining, this.chunkSize - this.filled),
      );
      this.filled += copied;
      offset += copied;
      if (this.filled === this.chunkSize) {
        this.heldBack = this.pending;
        this.filled = 0;
      }
    }
  }

  override _flush(callback: TransformCallback): void {
    if (this.key === undefined) {
      // Ended before the key came (a short file): finish once it is there; a failed key destroyed us.
      this.keyed.then(() => {
        if (!this.destroyed) this._flush(callback);
      });
      return;
    }
    this.sendHeader();
    this.pushFrame(this.heldBack ?? this.pending.subarray(0, this.filled), true);
    this.heldBack = undefined;
    this.filled = 0;
    callback();
  }

  private sendHeader(): void {
    if (this.headerSent) return;
    this.headerSent = true;
    this.push(this.header as Buffer);
  }

  /**
   * One frame: u32be length with the final flag, ciphertext, tag; the length word is the AAD. Pushed as
   * three buffers rather than copied into one: the copy cost more than the extra pushes.
   */
  private pushFrame(plaintext: Buffer, final: boolean): void {
    const length = plaintext.length;
    const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
    header.writeUInt32BE((final ? FINAL_FLAG : 0) + length, 0);
    const cipher = createCipheriv('aes-256-gcm', this.key as KeyObject, chunkNonce(this.index, final), {
      authTagLength: TAG_BYTES,
    });
    cipher.setAAD(header);
    this.push(header);
    this.push(cipher.update(plaintext));
    cipher.final();
    this.push(cipher.getAuthTag());
    this.index += 1;
  }
}
