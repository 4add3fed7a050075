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

export interface SharedProgress extends ProgressSink {
  /** Ends the one progress line, once every artifact is through. */
  finish(): void;
}

/**
 * Artifacts that stream side by side (a parallel dump stored, a parallel restore loading) report to one
 * progress line, their bytes summed, instead of each starting and ending its own: one line has one
 * label, and a second artifact's start would take it over. `expectedBytes` is the whole run's, when known.
 */
export function sharedProgress(sink: ProgressSink, label: string, expectedBytes?: number): SharedProgress {
  let started = false;
  return {
    start() {
      if (started) return;
      started = true;
      sink.start(label, expectedBytes);
    },
    advance: (bytes) => sink.advance(bytes),
    done() {},
    finish() {
      if (started) sink.done();
    },
  };
}
