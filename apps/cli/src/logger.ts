import type { Logger } from '@nexus-backup/core';

export interface LoggerOptions {
  quiet?: boolean;
  verbose?: boolean;
  json?: boolean;
}

/** Log lines go to stderr so stdout stays clean for `--json` and for `decrypt > file`. */
export function createLogger(
  options: LoggerOptions = {},
  stream: NodeJS.WritableStream = process.stderr,
): Logger {
  const write = (level: string, message: string) => {
    if (options.json) stream.write(`${JSON.stringify({ time: new Date().toISOString(), level, message })}\n`);
    else stream.write(level === 'info' ? `${message}\n` : `${level}: ${message}\n`);
  };
  return {
    info: (message) => {
      if (!options.quiet) write('info', message);
    },
    warn: (message) => write('warning', message),
    debug: (message) => {
      if (options.verbose) write('debug', message);
    },
  };
}
