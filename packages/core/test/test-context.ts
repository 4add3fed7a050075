import type { ProgressSink, RunContext } from '../src/index.js';

/** A logger that prints nothing: the engine tests assert on results, not on log lines. */
export const silent = { info() {}, warn() {}, debug() {} };

/** A run context for engine tests: never aborted, silent, a passphrase that no test's data needs. */
export function testContext(progress?: ProgressSink): RunContext {
  return {
    signal: new AbortController().signal,
    log: silent,
    secrets: { passphrase: async () => 'unused' },
    ...(progress ? { progress } : {}),
  };
}
