import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { NexusError } from '@nexus-backup/core';
import { ControlShell } from './control-shell.js';
import { defaultKnownHostsFile } from './host-verification.js';
import type { SftpOptions } from './sftp-options.js';
import { explainHostKeyFailure, knownHostsForPinnedKey, systemSshOptions } from './system-ssh.js';

/** What the master's remote command prints once a POSIX shell runs our commands. */
const SHELL_READY = 'nexus-backup-shell-ok';
/**
 * Skips the probe line below, prints the marker, then becomes the control shell that runs the
 * small commands (rename, delete, list) without a login shell's start-up per command. It ends
 * when our end of its stdin closes (we close, or this process dies). The login shell only runs
 * `exec sh -c '...'` (no backslash, no quote inside), which bash, zsh, fish and csh all read alike.
 */
const MASTER_COMMAND = `exec sh -c 'IFS= read -r _; echo ${SHELL_READY}; exec sh'`;
/**
 * A data session: reads its command line from stdin, then runs it in `sh` with the rest of stdin.
 * Started ahead of need, so the login shell's start-up (often a good part of a second with heavy
 * rc files) is paid while other work goes on.
 */
const DATA_SESSION = `exec sh -c 'IFS= read -r nexus_command && eval "$nexus_command"'`;
/**
 * SSH_FXP_INIT (version 3) and a newline, written to the master's stdin at once. A shell reads it as one line; an
 * account that only runs SFTP (ForceCommand internal-sftp) answers SSH_FXP_VERSION instead of the
 * marker, which tells "no shell" apart from a slow login without waiting for a timeout.
 */
const SFTP_INIT = Buffer.from([0, 0, 0, 5, 1, 0, 0, 0, 3, 0x0a]);
const SFTP_VERSION = 2;

/** ssh's own exit status for its failures; anything else is the remote command's. */
const SSH_FAILED = 255;

/**
 * One OpenSSH connection (a ControlMaster) that every operation of a destination runs its remote
 * commands through, so one handshake serves them all and OpenSSH does the crypto in its own
 * process. The master verifies the host key and logs in; each command is a multiplexed session.
 */
export class SshMaster {
  private exited = false;
  private closing = false;
  private spare: ChildProcess | undefined;
  /** Runs the small commands; exists once the master is ready. */
  control!: ControlShell;

  private constructor(
    private readonly child: ChildProcess,
    private readonly options: string[],
    private readonly socket: string,
    private readonly host: string,
    private readonly scratch: string,
    label: string,
  ) {
    child.once('exit', () => {
      this.exited = true;
      this.control?.fail(
        new NexusError('CONNECTION', `SSH connection to ${label} lost: the ssh client exited`, {
          provider: 'sftp',
          hint: 'the next operation reconnects; check the network and the server if it keeps happening',
        }),
      );
    });
  }

  /**
   * One connection attempt: the handshake, the host key check, the login and the control shell. Up
   * to the start of `ssh` it runs synchronously (unless a fingerprint is pinned: that scans the
   * server first), so the handshake is under way when this returns, even if the caller then keeps
   * the main thread busy (the CLI opens its repositories early, then loads its commands).
   */
  static connect(endpoint: SftpOptions, label: string, signal: AbortSignal): Promise<SshMaster> {
    let scratch: string;
    try {
      signal.throwIfAborted();
      scratch = mkdtempSync(join(tmpdir(), 'nexus-ssh-'));
    } catch (error) {
      return Promise.reject(error);
    }
    return SshMaster.start(endpoint, label, scratch, signal).catch(async (error: unknown) => {
      await rm(scratch, { recursive: true, force: true });
      throw error;
    });
  }

  private static async start(
    endpoint: SftpOptions,
    label: string,
    scratch: string,
    signal: AbortSignal,
  ): Promise<SshMaster> {
    const knownHosts = endpoint.fingerprint
      ? await knownHostsForPinnedKey(endpoint, scratch)
      : (endpoint.knownHosts ?? defaultKnownHostsFile());
    signal.throwIfAborted();
    const options = systemSshOptions(endpoint, knownHosts);
    const socket = join(scratch, 'control');
    const child = spawn(
      'ssh',
      [...options, '-M', '-S', socket, '-o', 'ControlPersist=no', '--', endpoint.host, MASTER_COMMAND],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const master = new SshMaster(child, options, socket, endpoint.host, scratch, label);
    try {
      await master.ready(endpoint, label, signal);
    } catch (error) {
      await master.abandon(signal.aborted && existsSync(socket));
      throw error;
    }
    master.control = new ControlShell(child.stdin as Writable, child.stdout as Readable);
    master.warmUp();
    return master;
  }

  /** Resolves when the remote shell printed the marker; rejects with the reason it cannot. */
  private ready(endpoint: SftpOptions, label: string, signal: AbortSignal): Promise<void> {
    const { child } = this;
    const where = `${endpoint.host}:${endpoint.port}`;
    const fail = (message: string, hint: string, retryable = false) =>
      Object.assign(new NexusError('CONNECTION', message, { provider: 'sftp', hint }), { retryable });
    return new Promise<void>((resolve, reject) => {
      let stdout = Buffer.alloc(0);
      let stderr = '';
      let settled = false;
      const settle = (error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        clearInterval(loggedIn);
        signal.removeEventListener('abort', onAbort);
        child.stdout?.removeAllListeners('data');
        if (error) reject(error);
        else resolve();
      };
      const onAbort = () =>
        settle(new NexusError('ABORTED', 'the operation was aborted', { provider: 'sftp' }));
      signal.addEventListener('abort', onAbort, { once: true });
      // The control socket appears once the login succeeded: the data session kept warm can start
      // its login shell then, alongside the master's, instead of after it.
      const loggedIn = setInterval(() => {
        if (!existsSync(this.socket)) return;
        clearInterval(loggedIn);
        this.warmUp();
      }, 10);
      const timer = setTimeout(
        () => {
          settle(
            existsSync(this.socket)
              ? noShell(label, `it logged in but did not run a command within ${endpoint.connectTimeout} s`)
              : fail(
                  `${where} did not complete the SSH handshake within ${endpoint.connectTimeout} s`,
                  'check the network, or raise connectTimeout',
                  true,
                ),
          );
        },
        endpoint.connectTimeout * 1000 + 5000,
      );

      child.stdin?.on('error', () => {}); // the exit status explains a master that went away
      child.stdin?.write(SFTP_INIT);
      child.stderr?.setEncoding('utf8');
      child.stderr?.on('data', (text: string) => {
        stderr = (stderr + text).slice(-4000);
      });
      child.stdout?.on('data', (chunk: Buffer) => {
        stdout = Buffer.concat([stdout, chunk]).subarray(-4096);
        if (stdout.toString('latin1').split('\n').includes(SHELL_READY)) return settle();
        if (stdout.length >= 5 && stdout.readUInt32BE(0) < 1024 && stdout[4] === SFTP_VERSION) {
          settle(noShell(label, 'the server runs only SFTP for this account'));
        }
      });
      child.once('error', (error: NodeJS.ErrnoException) =>
        settle(
          error.code === 'ENOENT'
            ? new NexusError(
                'USAGE',
                'transport=ssh needs the OpenSSH client (ssh), which is not installed',
                {
                  provider: 'sftp',
                  hint: 'install it (apt-get install openssh-client), or drop transport=ssh to use the built-in SFTP client',
                },
              )
            : error,
        ),
      );
      child.once('exit', (code, signal) => {
        // stderr may still be arriving: read it once the pipes have closed
        child.once('close', () => {
          if (settled) return;
          // OpenSSH's forced internal-sftp says "This service allows sftp connections only." on stdout
          const said = stdout.toString('latin1').replace(/[^\x20-\x7e\n]/g, '');
          const detail = lastLines(stderr) || lastLines(said);
          if (code !== SSH_FAILED) {
            return settle(
              noShell(label, `its login shell exited with ${code ?? signal}${detail ? `: ${detail}` : ''}`),
            );
          }
          if (/Host key verification failed|HOST IDENTIFICATION HAS CHANGED/i.test(stderr)) {
            return explainHostKeyFailure(endpoint).then(settle, settle);
          }
          if (/Permission denied/i.test(stderr)) {
            const tried = endpoint.identity
              ? `publickey (${endpoint.identity})`
              : 'the default keys and ssh-agent';
            return settle(
              fail(
                `${where} refused login as "${endpoint.user ?? process.env.USER ?? 'the current user'}" (tried: ${tried})`,
                `check the user in ${label} and that the public key is in authorized_keys on the server`,
              ),
            );
          }
          if (/Connection refused/i.test(stderr)) {
            return settle(
              fail(`${where} refused the connection`, 'is sshd running there, and is the port right?', true),
            );
          }
          if (/Could not resolve hostname/i.test(stderr)) {
            return settle(fail(`host ${endpoint.host} not found`, 'check the host name in the URL'));
          }
          const retryable = /timed out|Connection reset|Network is unreachable|No route to host/i.test(
            stderr,
          );
          settle(
            fail(
              `SSH connection to ${where} failed: ${detail}`,
              'check the host, port and network',
              retryable,
            ),
          );
        });
      });
    });
  }

  get alive(): boolean {
    return !this.exited;
  }

  /**
   * A session that runs `command` (one line of POSIX shell) with the rest of its stdin, taken from
   * the one kept warm when there is one; another starts warming at once.
   */
  session(command: string): ChildProcess {
    const session = this.spare ?? this.spawnDataSession();
    this.spare = undefined;
    this.warmUp();
    session.stdin?.on('error', () => {}); // a session that died reports through its exit status
    session.stdin?.write(`${command}\n`);
    return session;
  }

  private warmUp(): void {
    if (!this.spare && !this.exited && !this.closing) this.spare = this.spawnDataSession();
  }

  private spawnDataSession(): ChildProcess {
    // ControlMaster=no: a session never becomes a master itself, even if ours has gone away
    const child = spawn(
      'ssh',
      [...this.options, '-S', this.socket, '-o', 'ControlMaster=no', '--', this.host, DATA_SESSION],
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child.once('exit', () => {
      if (this.spare === child) this.spare = undefined;
    });
    return child;
  }

  /**
   * Stops a connection that never became ready. Once logged in (given up by an abort: a destination
   * closed before its first operation), the login shells are left to finish their start-up files
   * and then end on their closed input: killed half-way, they may leave locks behind (pyenv's rehash
   * lock made every later login wait 60 s). A connection still in its handshake, or failed, is killed.
   */
  private async abandon(loggedIn: boolean): Promise<void> {
    this.closing = true;
    const spare = this.spare;
    this.spare = undefined;
    if (!loggedIn) {
      spare?.kill('SIGKILL');
      this.child.kill('SIGKILL');
      return;
    }
    spare?.stdin?.end();
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  }

  /** Ends the connection: closing its stdin ends the control shell, then the master exits. */
  async close(): Promise<void> {
    this.closing = true;
    const spare = this.spare;
    this.spare = undefined;
    spare?.stdin?.end(); // its `read` finds no command and the session ends
    if (!this.exited) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
      this.child.stdin?.end();
      const timer = setTimeout(() => this.child.kill('SIGTERM'), 2000);
      await exited;
      clearTimeout(timer);
    }
    await rm(this.scratch, { recursive: true, force: true });
  }
}

/** The one error for an account the ssh transport cannot use, naming the way back. */
function noShell(label: string, why: string): NexusError {
  return new NexusError(
    'USAGE',
    `${label}?transport=ssh needs a login shell on the server to run its commands, and the account has none (${why})`,
    {
      provider: 'sftp',
      hint: 'remove transport=ssh from the URL (or set transport=sftp) to use the built-in SFTP client, which needs no shell',
    },
  );
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join('; ');
}
