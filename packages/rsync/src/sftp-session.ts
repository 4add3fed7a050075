import { createRequire } from 'node:module';
import { NexusError, type RunContext } from '@nexus-backup/core';
import type { Client, ConnectConfig, SFTPWrapper } from 'ssh2';
import type SftpClient from 'ssh2-sftp-client';
import { connectWithRetries } from './connection-head-start.js';
import { createHostKeyCheck } from './host-verification.js';
import type { SftpOptions } from './sftp-options.js';
import { loadCredentials, type SshCredentials } from './ssh-auth.js';

type Callback<T> = (error: (Error & { code?: unknown }) | null | undefined, value?: T) => void;

/**
 * One SSH connection with its SFTP channel. ssh2 reports a dropped link only through events, so
 * every request in flight is rejected when the connection ends, and a dead session is never reused.
 */
export class SftpSession {
  private readonly pending = new Set<(error: NexusError) => void>();
  private endedWith: NexusError | undefined;
  private closing = false;
  private lastAnswer = Date.now();
  private readonly watchdog: NodeJS.Timeout;

  constructor(
    private readonly client: SftpClient,
    readonly sftp: SFTPWrapper,
    private readonly label: string,
    /** The verified host key blob the server presented. */
    readonly hostKey: Buffer | undefined,
    idleTimeoutMs = 120_000,
  ) {
    // Keepalives prove the link, not the SFTP server: a server that stops answering requests while
    // the connection stays up would otherwise hang a backup forever.
    this.watchdog = setInterval(
      () => {
        if (this.pending.size > 0 && Date.now() - this.lastAnswer > idleTimeoutMs) {
          this.die(`no SFTP response for ${Math.round(idleTimeoutMs / 1000)} s`);
          rawClient(client).destroy();
        }
      },
      Math.min(5000, idleTimeoutMs),
    );
    this.watchdog.unref();
    const ssh = rawClient(client);
    const lost = (why: string) => () => this.die(why);
    ssh.on('error', (error: Error) => this.die(error.message));
    ssh.on('end', lost('the server ended the connection'));
    ssh.on('close', lost('the connection closed'));
    sftp.on('close', lost('the SFTP channel closed'));
  }

  private second: Promise<SFTPWrapper | undefined> | undefined;

  /**
   * A second SFTP channel on this connection, opened once; undefined when the server refuses it
   * (MaxSessions), in which case callers do without.
   */
  secondChannel(): Promise<SFTPWrapper | undefined> {
    this.second ??= new Promise((resolve) => {
      if (!this.alive) return resolve(undefined);
      rawClient(this.client).sftp((error, channel) => {
        if (error) return resolve(undefined);
        channel.on('close', () => this.die('an SFTP channel closed'));
        resolve(channel);
      });
    });
    return this.second;
  }

  get alive(): boolean {
    return this.endedWith === undefined;
  }

  /** Largest write and read payload the server accepts in one request (OpenSSH announces ~255 KiB). */
  get maxWrite(): number {
    return (this.sftp as unknown as { _maxWriteLen?: number })._maxWriteLen ?? 32 * 1024;
  }

  get maxRead(): number {
    return (this.sftp as unknown as { _maxReadLen?: number })._maxReadLen ?? 32 * 1024;
  }

  hasExtension(name: string): boolean {
    const extensions = (this.sftp as unknown as { _extensions?: Record<string, string> })._extensions;
    return extensions?.[name] !== undefined;
  }

  /** Runs one SFTP request; rejects with the SFTP error, or a CONNECTION error when the link dies. */
  request<T>(start: (callback: Callback<T>) => void): Promise<T> {
    if (this.endedWith) return Promise.reject(this.endedWith);
    return new Promise<T>((resolve, reject) => {
      const onDeath = (error: NexusError) => reject(error);
      if (this.pending.size === 0) this.lastAnswer = Date.now();
      this.pending.add(onDeath);
      try {
        start((error, value) => {
          this.lastAnswer = Date.now();
          this.pending.delete(onDeath);
          if (error) reject(error);
          else resolve(value as T);
        });
      } catch (error) {
        this.pending.delete(onDeath);
        reject(error);
      }
    });
  }

  /** Ends the connection politely when it is alive (bounded wait), and always releases the socket. */
  async end(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    const ssh = rawClient(this.client);
    const wasAlive = this.alive;
    this.die('the connection was closed by nexus-backup');
    if (wasAlive) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 2000);
        ssh.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        ssh.end();
      });
    }
    ssh.destroy();
  }

  private die(why: string): void {
    if (this.endedWith) return;
    clearInterval(this.watchdog);
    this.endedWith = new NexusError('CONNECTION', `SSH connection to ${this.label} lost: ${why}`, {
      provider: 'sftp',
      hint: 'the next operation reconnects; check the network and the server if it keeps happening',
    });
    for (const reject of this.pending) reject(this.endedWith);
    this.pending.clear();
  }
}

function rawClient(client: SftpClient): Client {
  return (client as unknown as { client: Client }).client;
}

const RETRYABLE = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'EPIPE',
]);

/** Connects with bounded retries on network errors; refused host keys and logins fail at once. */
export function openSession(options: SftpOptions, label: string, ctx: RunContext): Promise<SftpSession> {
  return connectWithRetries(
    (signal) => connectSession(options, label, signal),
    (session) => session.end(),
    options.retries,
    ctx,
  );
}

/** One connection attempt: the handshake, the host key check, the login and the SFTP channel. */
export async function connectSession(
  options: SftpOptions,
  label: string,
  signal: AbortSignal,
): Promise<SftpSession> {
  signal.throwIfAborted();
  const credentials = await loadCredentials(options);
  const hostKey = await createHostKeyCheck(options);
  signal.throwIfAborted();
  // A CommonJS class, loaded with require: unlike import(), it needs no turn of the event loop, so
  // the TCP connect starts at once even when the caller keeps the loop busy (the CLI loading its commands).
  const SftpClientClass = createRequire(import.meta.url)('ssh2-sftp-client') as typeof SftpClient;
  // Quiet global callbacks: the session installs its own listeners and reports through errors.
  const client = new SftpClientClass('nexus-backup', { error: () => {}, end: () => {}, close: () => {} });
  const ssh = rawClient(client);
  let lastError: (Error & { level?: string; code?: string }) | undefined;
  ssh.on('error', (error: Error) => {
    lastError ??= error;
  });
  const config: ConnectConfig = {
    host: options.host,
    port: options.port,
    username: credentials.username,
    readyTimeout: options.connectTimeout * 1000,
    keepaliveInterval: options.keepalive * 1000,
    keepaliveCountMax: 3,
    hostVerifier: (key: Buffer) => hostKey.verify(key),
  };
  if (hostKey.algorithms) config.algorithms = { serverHostKey: hostKey.algorithms as never };
  if (credentials.privateKey) config.privateKey = credentials.privateKey;
  if (credentials.passphrase !== undefined) config.passphrase = credentials.passphrase;
  if (credentials.agent) config.agent = credentials.agent;
  if (credentials.password !== undefined) config.password = credentials.password;

  const onAbort = () => ssh.destroy();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const sftp = (await client.connect(config as SftpClient.ConnectOptions)) as unknown as SFTPWrapper;
    // Nagle's algorithm holds back the small read requests and window adjustments while data is in
    // flight; measured on loopback, downloads ran at half speed with it (bench/throughput.mjs).
    ssh.setNoDelay(true);
    const session = new SftpSession(client, sftp, label, hostKey.presentedKey, options.idleTimeout * 1000);
    if (signal.aborted) {
      await session.end();
      signal.throwIfAborted();
    }
    return session;
  } catch (error) {
    try {
      ssh.destroy();
    } catch {
      // a half-open client may throw on destroy; it is gone either way
    }
    if (signal.aborted)
      throw new NexusError('ABORTED', 'the operation was aborted', { provider: 'sftp', cause: error });
    throw explainConnectFailure(hostKey.refusal, lastError ?? (error as Error), options, credentials, label);
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

function explainConnectFailure(
  refusal: NexusError | undefined,
  error: Error & { level?: string; code?: string },
  options: SftpOptions,
  credentials: SshCredentials,
  label: string,
): NexusError {
  if (refusal) return refusal;
  const where = `${options.host}:${options.port}`;
  const fail = (message: string, hint: string, retryable = false) =>
    Object.assign(new NexusError('CONNECTION', message, { provider: 'sftp', hint, cause: error }), {
      retryable,
    });
  if (error.level === 'client-authentication') {
    return fail(
      `${where} refused login as "${credentials.username}" (tried: ${credentials.tried})`,
      `check the user in ${label} and that the public key is in ~${credentials.username}/.ssh/authorized_keys on the server`,
    );
  }
  if (/passphrase|encrypted/i.test(error.message) && credentials.privateKey) {
    return Object.assign(
      new NexusError('USAGE', `cannot use the private key: ${error.message}`, {
        provider: 'sftp',
        hint: 'give its passphrase through identityPassphraseEnv=VAR or identityPassphraseFile=FILE, or use ssh-agent',
        cause: error,
      }),
      { retryable: false },
    );
  }
  if (/Cannot parse privateKey|Unsupported key format/i.test(error.message)) {
    return fail(
      `cannot read the private key: ${error.message}`,
      'identity= must name an OpenSSH or PEM private key file',
    );
  }
  if (error.code === 'ECONNREFUSED') {
    return fail(`${where} refused the connection`, 'is sshd running there, and is the port right?', true);
  }
  if (error.code === 'ENOTFOUND')
    return fail(`host ${options.host} not found`, 'check the host name in the URL');
  if (error.level === 'client-timeout' || /timed out/i.test(error.message)) {
    return fail(
      `${where} did not complete the SSH handshake within ${options.connectTimeout} s`,
      'check the network, or raise connectTimeout',
      true,
    );
  }
  const retryable = error.code !== undefined && RETRYABLE.has(error.code);
  return fail(
    `SSH connection to ${where} failed: ${error.message}`,
    'check the host, port and network',
    retryable,
  );
}
