import { NexusError, type OptionsSpec, type OptionValues } from '@nexus-backup/core';

export const sftpOptions = {
  host: {
    type: 'string',
    required: true,
    description: 'SSH server host name or address',
    placeholder: 'HOST',
  },
  port: { type: 'number', default: 22, description: 'SSH server port' },
  user: { type: 'string', description: 'login user (default: the current user)', placeholder: 'USER' },
  path: {
    type: 'string',
    required: true,
    description: 'remote repository folder: absolute, or relative to the login folder when it starts with ~/',
    placeholder: 'PATH',
  },
  identity: {
    type: 'string',
    description: 'private key file (default: ~/.ssh/id_ed25519, id_ecdsa or id_rsa)',
    placeholder: 'FILE',
  },
  identityPassphraseEnv: {
    type: 'string',
    description: 'name of an environment variable holding the private key passphrase',
    placeholder: 'VAR',
  },
  identityPassphraseFile: {
    type: 'string',
    description: 'file holding the private key passphrase',
    placeholder: 'FILE',
  },
  agent: {
    type: 'boolean',
    description: 'authenticate through ssh-agent ($SSH_AUTH_SOCK); default: when it is set',
  },
  passwordEnv: {
    type: 'string',
    description: 'name of an environment variable holding the login password (never the password itself)',
    placeholder: 'VAR',
  },
  knownHosts: {
    type: 'string',
    description: 'known_hosts file to verify the host key (default: ~/.ssh/known_hosts)',
    placeholder: 'FILE',
  },
  fingerprint: {
    type: 'string',
    description: 'pinned host key fingerprint SHA256:... (instead of known_hosts)',
    placeholder: 'SHA256:...',
  },
  connectTimeout: {
    type: 'number',
    default: 20,
    description: 'seconds to wait for the connection and login',
  },
  idleTimeout: {
    type: 'number',
    default: 120,
    description: 'seconds without any SFTP response, while requests wait, before the connection is given up',
  },
  keepalive: {
    type: 'number',
    default: 15,
    description: 'seconds between keepalive probes; a dead link fails after 3 missed',
  },
  retries: {
    type: 'number',
    default: 2,
    description: 'extra connection attempts on network errors (never on refused keys or logins)',
  },
  requests: {
    type: 'number',
    // Measured on loopback (bench/throughput.mjs), with TCP_NODELAY and the reused upload buffer:
    // 16 and 64 run within noise of each other, so 16, which holds 4 MiB per transfer instead of 16.
    default: 16,
    description: 'SFTP read/write requests kept in flight per transfer',
  },
  transport: {
    type: 'string',
    default: 'sftp',
    choices: ['sftp', 'ssh'] as const,
    description:
      'sftp: SFTP through the built-in SSH client; ssh: remote shell commands through the system ssh client (OpenSSH does the crypto: faster, needs a login shell)',
  },
} satisfies OptionsSpec;

export type SftpOptions = OptionValues<typeof sftpOptions>;

const QUERY_OPTIONS = [
  'identity',
  'identityPassphraseEnv',
  'identityPassphraseFile',
  'agent',
  'passwordEnv',
  'knownHosts',
  'fingerprint',
  'connectTimeout',
  'idleTimeout',
  'keepalive',
  'retries',
  'requests',
  'transport',
  'port',
  'user',
] as const;

/**
 * `sftp://user@host[:port]/path?identity=/key&knownHosts=/file` (or `ssh://`). A path starting with
 * `/~/` is relative to the login folder, as scp's `host:path` is.
 */
export function sftpOptionsFromUrl(url: URL): SftpOptions {
  const usage = (message: string, hint?: string) =>
    new NexusError('USAGE', message, { provider: 'sftp', hint });
  if (url.password) {
    throw usage(
      'a password in the repository URL is refused: URLs end up in shell history, process lists and logs',
      'put it in an environment variable and pass passwordEnv=VAR (e.g. ?passwordEnv=BACKUP_SSH_PASSWORD), or use a key',
    );
  }
  if (!url.hostname)
    throw usage(`repository URL ${url.protocol}//... has no host`, 'use sftp://user@host/path');
  const values: Record<string, unknown> = { host: url.hostname.replace(/^\[(.*)\]$/, '$1') };
  if (url.port) values.port = Number(url.port);
  if (url.username) values.user = decodeURIComponent(url.username);
  const rawPath = decodeURIComponent(url.pathname);
  values.path = rawPath.startsWith('/~/') ? rawPath.slice(3) || '.' : rawPath === '/~' ? '.' : rawPath;
  if (values.path === '' || values.path === '/') {
    throw usage(
      `repository URL ${redactedUrl(url)} names no folder`,
      'add the remote folder: sftp://host/srv/backups',
    );
  }
  for (const [name, raw] of url.searchParams) {
    if (name === 'password') throw usage('passwords are never taken from the URL', 'use passwordEnv=VAR');
    if (!(QUERY_OPTIONS as readonly string[]).includes(name)) {
      throw usage(
        `unknown option "${name}" in repository URL ${redactedUrl(url)}`,
        `known: ${QUERY_OPTIONS.join(', ')}`,
      );
    }
    values[name] = coerce(name, raw, usage);
  }
  return values as SftpOptions;
}

function coerce(name: string, raw: string, usage: (message: string) => NexusError): unknown {
  const spec = sftpOptions[name as keyof typeof sftpOptions];
  if (spec.type === 'number') {
    const number = Number(raw);
    if (raw.trim() === '' || !Number.isFinite(number))
      throw usage(`URL option ${name} must be a number, got "${raw}"`);
    return number;
  }
  if (spec.type === 'boolean') {
    if (['', '1', 'true', 'yes'].includes(raw)) return true;
    if (['0', 'false', 'no'].includes(raw)) return false;
    throw usage(`URL option ${name} must be true or false, got "${raw}"`);
  }
  // base64 fingerprints contain '+', which a query string decodes to a space
  return name === 'fingerprint' ? raw.replace(/ /g, '+') : raw;
}

function redactedUrl(url: URL): string {
  return `${url.protocol}//${url.username ? `${url.username}@` : ''}${url.host}${url.pathname}`;
}

/** `sftp://user@host:port/path` for messages: never a secret, never the query. */
export function describeLocation(options: SftpOptions): string {
  const port = options.port === 22 ? '' : `:${options.port}`;
  const path = options.path.startsWith('/') ? options.path : `/~/${options.path}`;
  return `sftp://${options.user ? `${options.user}@` : ''}${options.host.includes(':') ? `[${options.host}]` : options.host}${port}${path}`;
}
