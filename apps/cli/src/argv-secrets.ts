import { NexusError, redactSecrets } from '@nexus-backup/core';

/** Where a password found on the command line should go instead, by the kind of value it was in. */
const HINTS = {
  postgres:
    'put the password in PGPASSWORD or ~/.pgpass, or the whole URL in DATABASE_URL (or in the config file as $VAR)',
  s3: 'S3 keys come from the AWS credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/credentials, or an instance role; write s3://bucket/prefix without them',
  sftp: 'use a key (?identity=FILE) or ssh-agent; for a config repository put the URL in an environment variable and write $VAR',
  webhook:
    'pass the webhook URL through an environment variable (--notify-env VAR) or in the config file as $VAR',
  other: 'put the URL in an environment variable, or in the config file as $VAR',
} as const;

type SecretKind = keyof typeof HINTS;

/** libpq's connection keywords: a `key=value` argument made of these is a conninfo string. */
// biome-ignore format: a list of words reads better packed
const CONNINFO_KEYWORDS = new Set([
  'host', 'hostaddr', 'port', 'dbname', 'user', 'password', 'passfile', 'require_auth', 'channel_binding',
  'connect_timeout', 'client_encoding', 'options', 'application_name', 'fallback_application_name',
  'keepalives', 'keepalives_idle', 'keepalives_interval', 'keepalives_count', 'tcp_user_timeout',
  'replication', 'gssencmode', 'sslmode', 'sslnegotiation', 'sslcompression', 'sslcert', 'sslkey',
  'sslpassword', 'sslcertmode', 'sslrootcert', 'sslcrl', 'sslcrldir', 'sslsni', 'requirepeer',
  'ssl_min_protocol_version', 'ssl_max_protocol_version', 'krbsrvname', 'gsslib', 'gssdelegation',
  'service', 'target_session_attrs', 'load_balance_hosts', 'min_protocol_version', 'max_protocol_version',
]);
const PASSWORD_KEYS = new Set(['password', 'sslpassword']);
const SECRET_QUERY_KEY = /^(?:ssl)?password$|^passphrase$|secret|token/i;
const URL_START = /^([a-z][a-z0-9+.-]*):\/\//i;
const CONNINFO_PAIR = /\s*([a-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*|(?=\s|$))/iy;

/**
 * Every user on the machine can read a process's argv (`ps`), so a value carrying a password is
 * refused before anything runs, with where the password should go instead. URLs are read as libpq
 * reads them (user info, `?password=`/`?sslpassword=`, an empty user, surrounding blanks), and libpq
 * `key=value` strings too.
 */
export function rejectPasswordsInArgv(argv: string[]): void {
  for (const arg of argv) {
    const value = arg.startsWith('--') && arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : arg;
    const kind = passwordKind(value);
    if (kind) {
      throw new NexusError(
        'USAGE',
        `a password on the command line (${redactSecrets(value.trim())}): anyone on this machine can read it with ps`,
        { hint: HINTS[kind] },
      );
    }
  }
}

/** What kind of value holds a password, or undefined when `value` holds none. */
export function passwordKind(value: string): SecretKind | undefined {
  const text = value.trim();
  const scheme = URL_START.exec(text)?.[1]?.toLowerCase();
  if (scheme) return urlHasPassword(text) ? kindOfScheme(scheme) : undefined;
  return conninfoHasPassword(text) ? 'postgres' : undefined;
}

function kindOfScheme(scheme: string): SecretKind {
  if (scheme === 'postgres' || scheme === 'postgresql') return 'postgres';
  if (scheme === 's3') return 's3';
  if (scheme === 'sftp' || scheme === 'ssh') return 'sftp';
  if (scheme === 'http' || scheme === 'https') return 'webhook';
  return 'other';
}

/** `scheme://[user[:password]@]hosts[/path][?query]`, hosts possibly a libpq list (`h1:5432,h2`). */
function urlHasPassword(text: string): boolean {
  const rest = text.replace(URL_START, '');
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    const userInfo = authority.slice(0, at);
    const colon = userInfo.indexOf(':');
    if (colon !== -1 && userInfo.slice(colon + 1) !== '') return true;
  }
  const query = rest.includes('?') ? rest.slice(rest.indexOf('?') + 1).split('#')[0] : '';
  return (query ?? '').split('&').some((pair) => {
    const [key = '', secret = ''] = pair.split(/=(.*)/s);
    return secret !== '' && SECRET_QUERY_KEY.test(decode(key));
  });
}

/** `host=db user=app password=pw`: every token a libpq keyword, one of them a non-empty password. */
function conninfoHasPassword(text: string): boolean {
  CONNINFO_PAIR.lastIndex = 0;
  let sawPassword = false;
  let pairs = 0;
  while (CONNINFO_PAIR.lastIndex < text.length) {
    const match = CONNINFO_PAIR.exec(text);
    if (!match) return false;
    const [, key = '', secret = ''] = match;
    if (!CONNINFO_KEYWORDS.has(key.toLowerCase())) return false;
    if (PASSWORD_KEYS.has(key.toLowerCase()) && secret !== '' && secret !== "''") sawPassword = true;
    pairs += 1;
  }
  return pairs > 0 && sawPassword;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}
