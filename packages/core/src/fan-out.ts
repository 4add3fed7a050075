import { PassThrough, Writable } from 'node:stream';

/**
 * One encoded stream written to several destinations at once (3-2-1 without encoding twice).
 * Backpressure follows the slowest live branch; a branch that fails is dropped (its put rejects on its
 * own) so an optional destination cannot stall or fail the others.
 */
export class FanOut extends Writable {
  readonly branches: PassThrough[];
  private readonly dropped = new Set<PassThrough>();
  private readonly waiting = new Map<PassThrough, () => void>();

  constructor(count: number) {
    super();
    this.branches = Array.from({ length: count }, () => {
      const branch = new PassThrough();
      // A branch can fail before its destination's put attached (put awaits a temp file or a
      // connection first); the error reaches the run through the pipeline and put, not as a crash.
      branch.on('error', () => {});
      return branch;
    });
  }

  /** Stops feeding a branch whose destination failed; pending writes stop waiting for it. */
  drop(branch: PassThrough, error?: Error): void {
    if (this.dropped.has(branch)) return;
    this.dropped.add(branch);
    branch.destroy(error);
    this.waiting.get(branch)?.();
  }

  private live(): PassThrough[] {
    return this.branches.filter((branch) => !this.dropped.has(branch));
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const slow = this.live().filter((branch) => !branch.write(chunk));
    if (slow.length === 0) {
      callback();
      return;
    }
    let remaining = slow.length;
    for (const branch of slow) {
      const resume = () => {
        branch.off('drain', resume);
        this.waiting.delete(branch);
        remaining -= 1;
        if (remaining === 0) callback();
      };
      this.waiting.set(branch, resume);
      branch.on('drain', resume);
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    for (const branch of this.live()) branch.end();
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // After a normal finish (autoDestroy) the branches were ended and drain on their own.
    for (const branch of this.live()) {
      if (error || !branch.writableEnded)
        branch.destroy(error ?? new Error('the stream closed before its end'));
    }
    callback(error);
  }
}
