import { redactSecrets } from '@nexus-backup/core';

/**
 * A connection string safe for messages and logs, through core's one redactor: the password (in the
 * URL's user info, a `password=`/`sslpassword=` parameter, or a libpq `key=value` string) is `***`.
 */
export function redactConnectionUrl(connection: string): string {
  return redactSecrets(connection);
}
