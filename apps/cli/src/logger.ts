import { type Logger, redactSecrets } from '@nexus-backup/core';

export interface LoggerOptions {
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
}

/** The CLI's logger: the providers' Logger plus `error`, which only the command line's end uses. */
export interface CliLogger extends Logger {
  /** A fatal error: `error: ...`. `warning:` is kept for problems that let the command finish. */
  error(message: string): void;
  /** How many warnings were logged: a run that warned exits 1, as the README promises. */
  readonly warnings: number;
}

/** Log lines go to stderr so stdout stays clean for `--json` and for `decrypt > file`. */
export function createLogger(
  options: LoggerOptions = {},
  stream: NodeJS.WritableStream = process.stderr,
): CliLogger {
  let warnings = 0;
  const write = (level: string, text: string) => {
    // Every log line passes core's one redactor: a provider's message may quote a URL with its password.
    const message = redactSecrets(text);
    if (options.json) stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, message })}\n`);
    else stream.write(level === 'info' ? `${message}\n` : `${level}: ${message}\n`);
  };
  return {
    info: (message) => {
      if (!options.quiet) write('info', message);
    },
    warn: (message) => {
      warnings += 1;
      write('warning', message);
    },
    error: (message) => write('error', message),
    debug: (message) => {
      if (options.verbose) write('debug', message);
    },
    get warnings() {
      return warnings;
    },
  };
}
