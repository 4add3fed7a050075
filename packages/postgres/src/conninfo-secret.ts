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
const CONNINFO_PAIR = /\s*([a-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|[^\s']\S*|(?=\s|$))/iy;

/**
 * `host=db user=app password=pw` as libpq reads it: every token a libpq keyword, one of them a
 * non-empty password. SQL such as `users.password = $1` is not a conninfo string.
 */
export function conninfoHasPassword(value: string): boolean {
  const text = value.trim();
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
