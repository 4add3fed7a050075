import { createDecipheriv, createSecretKey, type KeyObject } from 'node:crypto';
import type { ByteDecoder, Emit } from './decoder-stream.js';
import { integrityError, requirePassphrase } from './integrity.js';
import {
  checkMagic,
  chunkNonce,
  FINAL_FLAG,
  FRAME_HEADER_BYTES,
  HEADER_BYTES,
  MAGIC,
  parseHeader,
  TAG_BYTES,
} from './nexus-format.js';
import { type MasterKeyCache, openHeader } from './nexus-keys.js';

/**
 * Decrypts the nexus format. Every frame is authenticated before its plaintext is emitted, and the
 * final chunk is held until the input ends, so appended bytes fail the stream before it is released.
 */
export class NexusDecoder implements ByteDecoder {
  private readonly header = Buffer.alloc(HEADER_BYTES);
  private headerFilled = 0;
  private key: KeyObject | undefined;
  private chunkSize = 0;
  private readonly frameHeader = Buffer.alloc(FRAME_HEADER_BYTES);
  private frameHeaderFilled = 0;
  /** Ciphertext plus tag of the current frame, allocated once the chunk size is known. */
  private body = Buffer.alloc(0);
  private bodyFilled = 0;
  private bodyLength = 0;
  private final = false;
  private index = 0;
  private finalPlaintext: Buffer | undefined;

  constructor(
    private readonly passphrase: string,
    private readonly keys: MasterKeyCache,
  ) {
    requirePassphrase(passphrase);
  }

  write(data: Buffer, emit: Emit): void | Promise<void> {
    if (this.key) {
      this.readFrames(data, 0, emit);
      return;
    }
    const copied = data.copy(this.header, this.headerFilled, 0);
    this.headerFilled += copied;
    checkMagic(this.header.subarray(0, this.headerFilled));
    if (this.headerFilled < HEADER_BYTES) return;
    return this.openHeader().then(() => this.readFrames(data, copied, emit));
  }

  end(emit: Emit): void {
    if (!this.key) throw this.truncatedHeader();
    if (this.finalPlaintext) {
      emit(this.finalPlaintext);
      return;
    }
    const chunk = `chunk ${this.index}`;
    if (this.frameHeaderFilled === 0) {
      const after = this.index === 0 ? 'right after the header' : `after chunk ${this.index - 1}`;
      throw integrityError(`the file is truncated: it ends ${after}, and the final chunk is missing`);
    }
    if (this.frameHeaderFilled < FRAME_HEADER_BYTES) {
      throw integrityError(`the file is truncated inside the length field of ${chunk}`);
    }
    throw integrityError(
      `the file is truncated inside ${chunk}: ${this.bodyFilled} of its ${this.bodyLength} bytes are present`,
    );
  }

  private truncatedHeader() {
    if (this.headerFilled === 0)
      return integrityError('the encrypted file is empty (a valid file has a header)');
    if (this.headerFilled < MAGIC.length) {
      return integrityError(`the file is truncated inside the header (${this.headerFilled} bytes)`);
    }
    return integrityError(
      `the file is truncated inside the header: ${this.headerFilled} of ${HEADER_BYTES} bytes`,
    );
  }

  private async openHeader(): Promise<void> {
    const fields = parseHeader(this.header);
    const master = await this.keys.get(this.passphrase, fields.salt, fields.scrypt);
    this.key = createSecretKey(openHeader(master, this.header, fields));
    this.chunkSize = fields.chunkSize;
    this.body = Buffer.allocUnsafe(fields.chunkSize + TAG_BYTES);
  }

  private readFrames(data: Buffer, start: number, emit: Emit): void {
    let offset = start;
    while (offset < data.length) {
      if (this.finalPlaintext) {
        throw integrityError(`bytes were appended after the final chunk (chunk ${this.index - 1})`);
      }
      if (this.frameHeaderFilled < FRAME_HEADER_BYTES) {
        const copied = data.copy(
          this.frameHeader,
          this.frameHeaderFilled,
          offset,
          offset + FRAME_HEADER_BYTES,
        );
        this.frameHeaderFilled += copied;
        offset += copied;
        if (this.frameHeaderFilled === FRAME_HEADER_BYTES) this.startFrame();
        continue;
      }
      const needed = this.bodyLength - this.bodyFilled;
      if (this.bodyFilled === 0 && data.length - offset >= needed) {
        // Fast path: the whole frame body is in this input chunk; decrypt it in place.
        this.openFrame(data.subarray(offset, offset + needed), emit);
        offset += needed;
        continue;
      }
      const copied = data.copy(this.body, this.bodyFilled, offset, offset + needed);
      this.bodyFilled += copied;
      offset += copied;
      if (this.bodyFilled === this.bodyLength) this.openFrame(this.body.subarray(0, this.bodyLength), emit);
    }
  }

  private startFrame(): void {
    const word = this.frameHeader.readUInt32BE(0);
    const final = word >= FINAL_FLAG;
    const length = final ? word - FINAL_FLAG : word;
    if (length > this.chunkSize || (!final && length !== this.chunkSize)) {
      throw integrityError(
        `chunk ${this.index} is corrupted: its length field says ${length} bytes (${final ? 'final' : 'not final'}), ` +
          `but chunks hold ${this.chunkSize} bytes and only the final one may be shorter`,
      );
    }
    this.final = final;
    this.bodyLength = length + TAG_BYTES;
    this.bodyFilled = 0;
  }

  private openFrame(body: Buffer, emit: Emit): void {
    const length = body.length - TAG_BYTES;
    const decipher = createDecipheriv('aes-256-gcm', this.key!, chunkNonce(this.index, this.final), {
      authTagLength: TAG_BYTES,
    });
    decipher.setAAD(this.frameHeader);
    decipher.setAuthTag(body.subarray(length));
    const plaintext = decipher.update(body.subarray(0, length));
    try {
      decipher.final();
    } catch (error) {
      throw integrityError(
        `chunk ${this.index}${this.final ? ' (the final chunk)' : ''} failed authentication: its bytes were changed, ` +
          'or chunks were reordered, dropped or spliced in from another file',
        undefined,
        error,
      );
    }
    this.index += 1;
    this.frameHeaderFilled = 0;
    this.bodyFilled = 0;
    if (this.final) this.finalPlaintext = plaintext;
    else emit(plaintext);
  }
}
