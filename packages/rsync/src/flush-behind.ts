import type { SFTPWrapper } from 'ssh2';
import type { SftpSession } from './sftp-session.js';

/** Bytes written between two background flushes. */
const FLUSH_EVERY_BYTES = 32 * 1024 * 1024;

/**
 * Flushes a file on the server while its upload goes on, so the fsync that must come before the
 * rename finds little left to write. An SFTP server handles one channel's requests in order, so
 * the flush runs on a second channel (its own server process) and never holds up the writes.
 * Measured on loopback against one fsync at the end (bench/throughput.mjs): ~6% faster uploads of
 * 200 MiB, ~15% of 500 MiB.
 * Files under 32 MiB never open the second handle. A server that refuses the second channel, or
 * has no fsync extension, gets the one fsync at the end only.
 */
export class FlushBehind {
  private flushed = 0;
  private flushing: Promise<void> | undefined;
  private opened: Promise<{ channel: SFTPWrapper; handle: Buffer } | undefined> | undefined;

  /** `onError` hears a failed background flush: the upload must fail with it. */
  constructor(
    private readonly session: SftpSession,
    private readonly path: string,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Called as writes are acknowledged: starts a flush once enough new data is on the server. */
  written(bytesOnServer: number): void {
    if (this.flushing || bytesOnServer - this.flushed < FLUSH_EVERY_BYTES) return;
    if (!this.session.hasExtension('fsync@openssh.com')) return;
    this.flushed = bytesOnServer;
    this.flushing = this.flush().finally(() => {
      this.flushing = undefined;
    });
  }

  /** Waits for a flush in flight and releases the second handle. Never throws. */
  async finish(): Promise<void> {
    await this.flushing;
    const opened = await this.opened;
    if (opened && this.session.alive) {
      await this.session
        .request<void>((callback) => opened.channel.close(opened.handle, (error) => callback(error)))
        .catch(() => {});
    }
  }

  private async flush(): Promise<void> {
    try {
      this.opened ??= this.open();
      const opened = await this.opened;
      if (!opened) return;
      await this.session.request((callback) =>
        opened.channel.ext_openssh_fsync(opened.handle, (error) => callback(error)),
      );
    } catch (error) {
      this.onError(error);
    }
  }

  private async open(): Promise<{ channel: SFTPWrapper; handle: Buffer } | undefined> {
    const channel = await this.session.secondChannel();
    if (!channel) return undefined;
    const handle = await this.session.request<Buffer>((callback) => channel.open(this.path, 'r', callback));
    return { channel, handle };
  }
}
