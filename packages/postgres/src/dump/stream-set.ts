import { Readable } from 'node:stream';
import type { RunContext } from '@nexus-backup/core';

/**
 * The streams of one dump. However each ends (read to the end, failed, destroyed, or never read and
 * destroyed by the caller) it stops listening to the abort signal; when the last stream that holds a
 * connection has closed, the connections (and the snapshot's transaction) close with it.
 */
export class StreamSet {
  private readonly streams: Readable[] = [];
  private open = 0;
  private isSealed = false;
  private closed = false;

  constructor(
    private readonly ctx: RunContext,
    private readonly onLastClosed: () => void,
  ) {}

  add(bytes: AsyncIterable<Buffer> | Iterable<Buffer>, { holdsConnection = false } = {}): Readable {
    const stream = Readable.from(bytes, { objectMode: false, highWaterMark: 64 * 1024 });
    const onAbort = () => stream.destroy(this.ctx.signal.reason);
    // A stream nobody reads yet (a later artifact) errs on abort too; its reader, if any, still sees it.
    stream.on('error', () => undefined);
    this.ctx.signal.addEventListener('abort', onAbort, { once: true });
    if (holdsConnection) this.open++;
    stream.once('close', () => {
      this.ctx.signal.removeEventListener('abort', onAbort);
      if (holdsConnection) this.open--;
      this.maybeClose();
    });
    this.streams.push(stream);
    return stream;
  }

  /** Every stream is added: from now on the last one to close closes the connections. */
  sealed(): void {
    this.isSealed = true;
    this.maybeClose();
  }

  destroyAll(): void {
    for (const stream of this.streams) if (!stream.readableEnded) stream.destroy();
    this.closeNow();
  }

  private maybeClose(): void {
    if (this.isSealed && this.open === 0) this.closeNow();
  }

  private closeNow(): void {
    if (this.closed) return;
    this.closed = true;
    this.onLastClosed();
  }
}
