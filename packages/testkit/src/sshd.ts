import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A private/public key pair made by ssh-keygen, unencrypted unless a passphrase is given. */
export interface SshKeyPair {
  privateKeyFile: string;
  /** `ssh-ed25519 AAAA... comment` */
  publicKey: string;
}

export interface SshdHandle {
  host: string;
  port: number;
  /** The login user (the current user; root on CI, which sshd allows with keys only). */
  user: string;
  /** A private key authorized to log in as `user`. */
  identityFile: string;
  /** A known_hosts file holding this server's host key for `[127.0.0.1]:port`. */
  knownHostsFile: string;
  /** The known_hosts line in that file. */
  knownHostsLine: string;
  /** `SHA256:...` as `ssh-keygen -lf` prints it. */
  hostKeyFingerprint: string;
  /** An empty directory for remote files (absolute path, the same on both sides of loopback). */
  root: string;
  /** The sshd listener's process id; each SSH session runs in a child of it. */
  pid: number;
  /** Kills every live SSH session (not the listener), like a dropped network link. */
  killSessions(): Promise<number>;
  /** Sends a signal to every live SSH session, e.g. SIGSTOP for a server that stops answering. */
  signalSessions(signal: NodeJS.Signals): Promise<number>;
  /** The latest sshd log lines (with logSftpRequests: one per SFTP open, fsync, close...). */
  log(): string;
  /** Authorizes another public key for `user`. */
  authorize(publicKey: string): Promise<void>;
  stop(): Promise<void>;
}

export interface SshdOptions {
  /** Host key algorithm; default ed25519. */
  hostKeyType?: 'ed25519' | 'ecdsa' | 'rsa';
  /** sshd's MaxSessions: channels allowed per connection (default 100). */
  maxSessions?: number;
  /** Log every SFTP request (opens, fsyncs, closes) for `log()`. */
  logSftpRequests?: boolean;
}

const SSHD = ['/usr/sbin/sshd', '/usr/local/sbin/sshd'].find((path) => existsSync(path));
const SFTP_SERVER = [
  '/usr/lib/openssh/sftp-server',
  '/usr/libexec/openssh/sftp-server',
  '/usr/libexec/sftp-server',
].find((path) => existsSync(path));
const SFTP_LOG = 'sftp-server.log';

/** Generates a key pair with ssh-keygen into `dir/name` (and `name.pub`). */
export async function generateKeyPair(
  dir: string,
  name: string,
  options: { type?: 'ed25519' | 'ecdsa' | 'rsa'; passphrase?: string } = {},
): Promise<SshKeyPair> {
  const privateKeyFile = join(dir, name);
  const type = options.type ?? 'ed25519';
  // few KDF rounds: an encrypted test key should not cost seconds of bcrypt on every login
  const rounds = options.passphrase ? ['-a', '2'] : [];
  await run('ssh-keygen', [
    '-q',
    '-t',
    type,
    ...rounds,
    '-N',
    options.passphrase ?? '',
    '-C',
    `nexus-test-${name}`,
    '-f',
    privateKeyFile,
  ]);
  await chmod(privateKeyFile, 0o600);
  const publicKey = (await readFile(`${privateKeyFile}.pub`, 'utf8')).trim();
  return { privateKeyFile, publicKey };
}

/**
 * Starts a real OpenSSH sshd on a random loopback port with fresh host and client keys, public-key
 * login only, and the internal SFTP server. Needs the openssh-server package.
 */
export async function startSshd(options: SshdOptions = {}): Promise<SshdHandle> {
  if (!SSHD) throw new Error('sshd not found; install it with: apt-get install -y openssh-server');
  if (options.logSftpRequests && !SFTP_SERVER)
    throw new Error('sftp-server not found; install it with: apt-get install -y openssh-sftp-server');
  // sshd insists on its privilege separation directory even with -D -f; root may create it.
  if (process.getuid?.() === 0) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });

  const dir = await mkdtemp(join(tmpdir(), 'nexus-sshd-'));
  await chmod(dir, 0o755);
  const root = join(dir, 'remote');
  await mkdir(root, { mode: 0o700 });
  const hostKey = await generateKeyPair(dir, 'host_key', { type: options.hostKeyType ?? 'ed25519' });
  const client = await generateKeyPair(dir, 'client_key');
  const authorizedKeys = join(dir, 'authorized_keys');
  await writeFile(authorizedKeys, `${client.publicKey}\n`, { mode: 0o600 });
  const user = userInfo().username;

  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = join(dir, 'sshd_config');
    await writeFile(
      config,
      sshdConfig({ dir, port, hostKeyFile: hostKey.privateKeyFile, authorizedKeys, ...options }),
    );
    try {
      const { child, log } = await launch(config, port);
      const knownHostsLine = `[127.0.0.1]:${port} ${hostKey.publicKey.split(' ').slice(0, 2).join(' ')}`;
      const knownHostsFile = join(dir, 'known_hosts');
      await writeFile(knownHostsFile, `${knownHostsLine}\n`);
      const { stdout } = await run('ssh-keygen', [
        '-l',
        '-E',
        'sha256',
        '-f',
        `${hostKey.privateKeyFile}.pub`,
      ]);
      const hostKeyFingerprint = stdout.split(' ')[1] ?? '';
      const pid = child.pid ?? 0;
      return {
        host: '127.0.0.1',
        port,
        user,
        identityFile: client.privateKeyFile,
        knownHostsFile,
        knownHostsLine,
        hostKeyFingerprint,
        root,
        pid,
        killSessions: () => signalDescendants(pid, 'SIGKILL'),
        signalSessions: (signal) => signalDescendants(pid, signal),
        log: () =>
          `${log()}${options.logSftpRequests ? readFileSync(join(dir, SFTP_LOG), { encoding: 'utf8', flag: 'a+' }) : ''}`,
        authorize: async (publicKey) => {
          const current = await readFile(authorizedKeys, 'utf8');
          await writeFile(authorizedKeys, `${current}${publicKey.trim()}\n`);
        },
        stop: async () => {
          await signalDescendants(pid, 'SIGKILL');
          await stopChild(child);
          await rm(dir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      lastError = error as Error;
      // another process took the port between probing and binding: try a new one
      if (!/Address already in use|Bind to port/i.test(lastError.message)) break;
    }
  }
  await rm(dir, { recursive: true, force: true });
  throw lastError ?? new Error('sshd did not start');
}

function sshdConfig(input: {
  dir: string;
  port: number;
  hostKeyFile: string;
  authorizedKeys: string;
  maxSessions?: number;
  logSftpRequests?: boolean;
}): string {
  return [
    `ListenAddress 127.0.0.1:${input.port}`,
    `HostKey ${input.hostKeyFile}`,
    `PidFile ${join(input.dir, 'sshd.pid')}`,
    `AuthorizedKeysFile ${input.authorizedKeys}`,
    'StrictModes no',
    'UsePAM no',
    'PermitRootLogin prohibit-password',
    'PubkeyAuthentication yes',
    'PasswordAuthentication no',
    'KbdInteractiveAuthentication no',
    'AllowAgentForwarding no',
    'X11Forwarding no',
    'PrintMotd no',
    'MaxStartups 100:30:200',
    `MaxSessions ${input.maxSessions ?? 100}`,
    'LogLevel INFO',
    // sshd runs the subsystem through the user's shell, so the log redirection works; internal-sftp
    // could only log to syslog or to the client
    input.logSftpRequests
      ? `Subsystem sftp ${SFTP_SERVER} -e -l VERBOSE 2>>${join(input.dir, SFTP_LOG)}`
      : 'Subsystem sftp internal-sftp',
    '',
  ].join('\n');
}

async function launch(config: string, port: number): Promise<{ child: ChildProcess; log: () => string }> {
  const child = spawn(SSHD as string, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (text: string) => {
    // keep only the tail: sessions log a few lines each and a long test run must not grow memory
    stderr = (stderr + text).slice(-64_000);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('exit', (code, signal) =>
      reject(new Error(`sshd exited (${code ?? signal}) before accepting connections: ${stderr.trim()}`)),
    );
    child.once('error', reject);
  });
  exited.catch(() => {});
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (await accepts(port)) return { child, log: () => stderr };
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 50))]);
  }
  child.kill('SIGKILL');
  throw new Error(`sshd did not accept connections on port ${port} within 15 s: ${stderr.trim()}`);
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

/** Signals every descendant of `pid` (sshd's per-connection processes), found through /proc. */
async function signalDescendants(pid: number, signal: NodeJS.Signals): Promise<number> {
  const parents = new Map<number, number[]>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // the command name is in parentheses and may contain spaces: the ppid follows the last ')'
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const children = parents.get(ppid) ?? [];
      children.push(Number(entry));
      parents.set(ppid, children);
    } catch {
      // the process ended while we looked
    }
  }
  const victims: number[] = [];
  const queue = [...(parents.get(pid) ?? [])];
  while (queue.length > 0) {
    const next = queue.shift() as number;
    victims.push(next);
    queue.push(...(parents.get(next) ?? []));
  }
  for (const victim of victims) {
    try {
      process.kill(victim, signal);
    } catch {
      // already gone
    }
  }
  return victims.length;
}
