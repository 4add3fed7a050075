import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { NexusError } from './errors.js';

export interface Digest {
  bytes: number;
  sha256: string;
}

/** Passes bytes through unchanged while counting them and hashing them with SHA-256. */
export class HashingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;
  private result: Digest | undefined;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.count += chunk.length;
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.result = { bytes: this.count, sha256: this.hash.digest('hex') };
    callback();
  }

  /** Available once the stream has flushed. */
  digest(): Digest {
    if (!this.result) throw new NexusError('INTERNAL', 'digest read before the stream ended');
    return this.result;
  }
}

/**
 * Passes bytes through and fails at the end, instead of ending, when they do not match the expected
 * digest. A consumer therefore only sees a clean end for verified data, and a restore that stages its
 * output can discard it on the error.
 */
export class VerifyingStream extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private count = 0;

  constructor(
    private readonly expected: Digest,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.count += chunk.length;
    if (this.count > this.expected.bytes) {
      callback(this.mismatch(`more than the ${this.expected.bytes} bytes recorded`));
      return;
    }
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.count !== this.expected.bytes) {
      callback(this.mismatch(`${this.count} bytes instead of the ${this.expected.bytes} recorded`));
      return;
    }
    const sha256 = this.hash.digest('hex');
    if (sha256 !== this.expected.sha256) {
      callback(this.mismatch(`SHA-256 ${sha256} instead of the recorded ${this.expected.sha256}`));
      return;
    }
    callback();
  }

  private mismatch(detail: string): NexusError {
    return new NexusError('INTEGRITY', `${this.what} does not match its manifest: ${detail}`, {
      hint: 'the backup is damaged; restore an older backup or another copy (`nexus-backup list`)',
    });
  }
}
