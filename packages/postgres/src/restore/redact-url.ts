/**
 * A connection string safe for messages and logs: the password (in the URL's user info or a
 * `password=` parameter) is replaced by `***`. Anything that does not parse is reduced to its scheme.
 */
export function redactConnectionUrl(connection: string): string {
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    // libpq key=value form, e.g. `host=db password=secret`
    if (/=/.test(connection) && !/^\w+:\/\//.test(connection)) {
      return connection.replace(/(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)/gi, '$1***');
    }
    return '<unparsable connection URL>';
  }
  if (url.password !== '') url.password = '***';
  for (const key of [...url.searchParams.keys()]) {
    if (/^(password|sslpassword)$/i.test(key)) url.searchParams.set(key, '***');
  }
  return url.toString();
}
