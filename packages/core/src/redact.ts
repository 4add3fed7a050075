/**
 * The one redactor for everything printed, logged or stored in a message: passwords in URL user info
 * (`postgresql://u:pw@h`, `s3://key:secret@bucket`), password-like query parameters (libpq's
 * `?password=` and `?sslpassword=`, tokens, signatures) and libpq `key=value` strings
 * (`host=db password=pw`) become `***`. It works on free text, so a URL inside an error message is
 * redacted too.
 */
const REDACTED = '***';

const USER_INFO_PASSWORD = /([a-z][a-z0-9+.-]*:\/\/[^\s/?#@:]*):([^\s/?#@]*)@/gi;
const SECRET_QUERY_KEY = /^(?:ssl)?password$|^passphrase$|secret|token|^sig(?:nature)?$|^x-amz-signature$/i;
// `(?!\*\*\*)`: text redacted once (a message quoting a redacted URL) is left as it is.
const QUERY_PARAMETER = /([?&;])([^=&#\s]+)=(?!\*\*\*)([^&#\s]*)/g;
const SECRET_FIELD = /password|passphrase|secret|token/i;
const CONNINFO_PASSWORD = /\b((?:ssl)?password\s*=\s*)(?!\*\*\*)('(?:[^'\\]|\\.)*'|[^\s'][^\s]*)/gi;

/** `text` with every secret it holds replaced by `***`. */
export function redactSecrets(text: string): string {
  return text
    .replace(USER_INFO_PASSWORD, (_, before: string) => `${before}:${REDACTED}@`)
    .replace(QUERY_PARAMETER, (whole, separator: string, key: string) =>
      SECRET_QUERY_KEY.test(safeDecode(key)) ? `${separator}${key}=${REDACTED}` : whole,
    )
    .replace(CONNINFO_PASSWORD, (_, key: string) => `${key}${REDACTED}`);
}

/** A value about to be printed as JSON (a restore target, a report): every string in it redacted. */
export function redactValue<T>(value: T): T {
  if (typeof value === 'string') return redactSecrets(value) as T;
  if (Array.isArray(value)) return value.map((item) => redactValue(item)) as T;
  if (value !== null && typeof value === 'object' && !(value instanceof Date)) {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([key, item]) => [
        key,
        typeof item === 'string' && SECRET_FIELD.test(key) && item !== '' ? REDACTED : redactValue(item),
      ]),
    ) as T;
  }
  return value;
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
