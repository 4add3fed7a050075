import { NexusError } from '@nexus-backup/core';

const URL_WITH_PASSWORD = /^[a-z][a-z0-9+.-]*:\/\/[^/@:\s]+:[^/@\s]+@/i;

/**
 * Every user on the machine can read a process's argv (`ps`), so a URL carrying a password is refused
 * before anything runs, with where the password should go instead.
 */
export function rejectPasswordsInArgv(argv: string[]): void {
  for (const arg of argv) {
    const value = arg.startsWith('--') && arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : arg;
    if (URL_WITH_PASSWORD.test(value)) {
      throw new NexusError(
        'USAGE',
        `a URL with a password on the command line (${value.replace(/:\/\/([^:]+):[^@]+@/, '://$1:***@')})`,
        {
          hint: 'anyone can read it with ps; put the password in PGPASSWORD or ~/.pgpass, or the whole URL in DATABASE_URL or in the config file as $VAR interpolation',
        },
      );
    }
  }
}
