import type { ChildProcess } from 'node:child_process';
import { Transform, type TransformCallback } from 'node:stream';

/**
 * One word for a POSIX shell (sh, dash, bash, zsh, ksh): single quotes keep every byte as it is,
 * and a quote inside becomes `'\''`.
 */
export function shellWord(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/** How a remote command ended: its exit status (255: ssh itself failed) and the tail of its stderr. */
export interface RemoteExit {
  code: number;
  stderr: string;
}

/** Collects a remote command's stderr tail and resolves once it exited and its pipes closed. */
export function exitOf(child: ChildProcess): Promise<RemoteExit> {
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  return new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: 255, stderr: error.message }));
    child.once('close', (code, signal) =>
      resolve({ code: code ?? 255, stderr: stderr.trim() || (signal ? `killed by ${signal}` : '') }),
    );
  });
}

/**
 * The part of a remote command's output after a marker line, ending only once the command exited
 * successfully. A login shell's start-up files may print before the command runs; the marker tells
 * where the data begins. A command that fails after its data began makes the stream fail, never end.
 */
export class AfterMarker extends Transform {
  private pending: Buffer | undefined = Buffer.alloc(0);
  private readonly marker: Buffer;
  private announce: (() => void) | undefined;
  /** Resolves once the marker went by: the data begins. */
  readonly started: Promise<void>;

  constructor(
    marker: string,
    private readonly exit: Promise<RemoteExit>,
    private readonly failure: (exit: RemoteExit) => Error,
  ) {
    super();
    this.marker = Buffer.from(`${marker}\n`);
    this.started = new Promise((resolve) => {
      this.announce = resolve;
    });
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.pending === undefined) {
      callback(null, chunk);
      return;
    }
    const seen = Buffer.concat([this.pending, chunk]);
    const at = seen.indexOf(this.marker);
    if (at < 0) {
      // keep only what may be the start of a marker split across chunks
      this.pending = seen.subarray(Math.max(0, seen.length - this.marker.length + 1));
      callback();
      return;
    }
    this.pending = undefined;
    this.announce?.();
    callback(null, seen.subarray(at + this.marker.length));
  }

  override _flush(callback: TransformCallback): void {
    this.exit.then((exit) =>
      exit.code === 0 && this.pending === undefined ? callback() : callback(this.failure(exit)),
    );
  }
}
