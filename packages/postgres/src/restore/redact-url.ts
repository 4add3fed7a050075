import { redactSecrets } from '@nexus-backup/core';

/**
 * A connection string safe for messages and logs, through core's one redactor: the password (in the
 * URL's user info, a `password=`/`sslpassword=` parameter, or a libpq `key=value` string) is `***`.
 * A URL that does not parse is not echoed at all: where its password ends cannot be known.
 */
export function redactConnectionUrl(connection: string): string {
  if (/^\s*[a-z][a-z0-9+.-]*:\/\//i.test(connection) && !URL.canParse(connection.trim())) {
    return '<unparsable connection URL>';
  }
  return redactSecrets(connection);
}
