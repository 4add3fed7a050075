import { Transform, type TransformCallback } from 'node:stream';
import type { ProgressSink } from './contracts.js';

/**
 * Reports bytes as they pass. A pipeline stage rather than a 'data' listener: a listener would switch
 * the stream to flowing mode and lose bytes emitted before the real consumer attaches.
 */
export class ProgressStream extends Transform {
  constructor(private readonly sink: ProgressSink | undefined) {
    super();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.sink?.advance(chunk.length);
    callback(null, chunk);
  }
}
