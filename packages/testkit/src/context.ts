import type { Logger, RunContext } from '@nexus-backup/core';

export interface TestContextOptions {
  passphrase?: string;
  signal?: AbortSignal;
  /** Collects log lines so tests can assert on warnings. */
  lines?: string[];
}

/** A RunContext for tests: a fixed passphrase, an optional abort signal, log lines collected in memory. */
export function createTestContext(options: TestContextOptions = {}): RunContext {
  const lines = options.lines ?? [];
  const log: Logger = {
    info: (message) => lines.push(`info ${message}`),
    warn: (message) => lines.push(`warn ${message}`),
    debug: (message) => lines.push(`debug ${message}`),
  };
  return {
    signal: options.signal ?? new AbortController().signal,
    log,
    secrets: {
      async passphrase() {
        if (options.passphrase === undefined) throw new Error('test context has no passphrase');
        return options.passphrase;
      },
    },
  };
}
