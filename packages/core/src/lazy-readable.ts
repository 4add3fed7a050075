import { Readable } from 'node:stream';

/**
 * A stream that opens its source only when first read: a restore that skips an artifact (destroys its
 * stream unread) never fetches it from the repository, nor starts its decoders.
 */
export class LazyReadable extends Readable {
  private inner: Readable | undefined;
  private opening = false;

  constructor(private readonly open: () => Promise<Readable>) {
    super();
  }

  /** True once something read the stream and its source was asked for. */
  get opened(): boolean {
    return this.opening;
  }

  override _read(): void {
    if (this.inner !== undefined) {
      this.inner.resume();
      return;
    }
    if (this.opening) return;
    this.opening = true;
    this.open().then(
      (inner) => {
        if (this.destroyed) {
          inner.destroy();
          return;
        }
        this.inner = inner;
        inner.on('data', (chunk: Buffer) => {
          if (!this.push(chunk)) inner.pause();
        });
        inner.once('end', () => this.push(null));
        inner.once('error', (error) => this.destroy(error));
      },
      (error: unknown) => this.destroy(error as Error),
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.inner?.destroy();
    callback(error);
  }
}
