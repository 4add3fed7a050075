import { randomBytes } from 'node:crypto';
import type { Readable, Writable } from 'node:stream';
import type { RemoteExit } from './remote-shell.js';

/**
 * A remote `sh` that reads commands from a pipe and runs them one at a time, each in a subshell
 * (so `exit` ends only that command) with stdin from /dev/null and stderr folded into stdout. After
 * each, it prints a random end marker with the exit status, which is how its output is cut apart.
 */
export class ControlShell {
  private readonly end = `nexus-end-${randomBytes(8).toString('hex')}`;
  private output = '';
  private searched = 0;
  private readonly waiting: {
    resolve: (result: RemoteExit & { stdout: string }) => void;
    reject: (error: Error) => void;
  }[] = [];
  private failure: Error | undefined;

  constructor(
    private readonly stdin: Writable,
    stdout: Readable,
  ) {
    stdout.setEncoding('utf8');
    stdout.on('data', (text: string) => {
      this.output += text;
      this.deliver();
    });
  }

  /**
   * Runs `command` (POSIX sh; a here-document may follow its first line) and resolves with its
   * exit status and output. Commands queue up behind each other on the one shell.
   */
  run(command: string): Promise<RemoteExit & { stdout: string }> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.stdin.write(`(\n${command}\n) </dev/null 2>&1; printf '\\n${this.end} %d\\n' "$?"\n`);
    });
  }

  /** The connection is gone: every command waiting fails with `error`, and so will later ones. */
  fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiting.splice(0)) waiter.reject(this.failure);
  }

  private deliver(): void {
    for (;;) {
      const waiter = this.waiting[0];
      if (!waiter) return;
      // search only the new tail: a long listing arrives in many chunks
      const at = this.output.indexOf(`\n${this.end} `, Math.max(0, this.searched - this.end.length - 2));
      const lineEnd = at < 0 ? -1 : this.output.indexOf('\n', at + 1);
      if (lineEnd < 0) {
        this.searched = at < 0 ? this.output.length : at + this.end.length + 2;
        return;
      }
      const text = this.output.slice(0, at);
      const code = Number(this.output.slice(at + this.end.length + 2, lineEnd));
      this.output = this.output.slice(lineEnd + 1);
      this.searched = 0;
      this.waiting.shift();
      // stdout and stderr are one stream here: the output doubles as the error message
      waiter.resolve({ code, stdout: text, stderr: code === 0 ? '' : text.trim().slice(-4000) });
    }
  }
}
