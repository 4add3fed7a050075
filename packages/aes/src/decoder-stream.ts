import { Transform, type TransformCallback } from 'node:stream';

/** Verified plaintext leaves a decoder only through `emit`. */
export type Emit = (plaintext: Buffer) => void;

/** A decoder as a state machine over input bytes; async only while it derives a key. */
export interface ByteDecoder {
  write(data: Buffer, emit: Emit): void | Promise<void>;
  end(emit: Emit): void | Promise<void>;
}

/**
 * Adapts a ByteDecoder to a Node stream. Transform applies backpressure for us: it does not ask for
 * the next input chunk while the readable side is above its high-water mark.
 */
export class DecoderStream extends Transform {
  /**
   * The first failure, kept because Node still hands already-buffered input to `_transform` until the
   * stream is destroyed on the next tick; a failed decoder must never see (or emit) another byte.
   */
  private failure: Error | undefined;
  private readonly pushVerified: Emit = (plaintext) => {
    this.push(plaintext);
  };

  constructor(private readonly decoder: ByteDecoder) {
    super();
  }

  override _transform(data: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.step(() => this.decoder.write(data, this.pushVerified), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.step(() => this.decoder.end(this.pushVerified), callback);
  }

  private step(run: () => void | Promise<void>, callback: TransformCallback): void {
    if (this.failure) {
      callback(this.failure);
      return;
    }
    const fail = (error: Error) => {
      this.failure ??= error;
      callback(this.failure);
    };
    let result: void | Promise<void>;
    try {
      result = run();
    } catch (error) {
      fail(error as Error);
      return;
    }
    if (result) result.then(() => callback(), fail);
    else callback();
  }
}
