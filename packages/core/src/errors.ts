/**
 * One error type for the whole tool. `code` is what callers branch on; the message says what to fix.
 * Exit codes follow DESIGN.md: 0 ok, 1 warnings, 2 failed, 64 usage or config error.
 */
export type ErrorCode =
  | 'USAGE' // bad flags, arguments or URLs
  | 'CONFIG' // bad config file
  | 'POLICY' // refused by a safety rule (e.g. credentials without encryption)
  | 'PROVIDER_MISSING' // a provider package is not installed
  | 'NOT_FOUND' // backup, artifact, object, path or database missing
  | 'INTEGRITY' // hash mismatch, tampering, truncation, wrong passphrase
  | 'TARGET' // restore target not usable (not empty, exists, not writable)
  | 'IO' // a destination or source failed to read or write
  | 'CONNECTION' // a service could not be reached or refused us
  | 'ABORTED'
  | 'INTERNAL';

export const EXIT = { ok: 0, warnings: 1, failed: 2, usage: 64 } as const;

const usageCodes: ReadonlySet<ErrorCode> = new Set(['USAGE', 'CONFIG', 'POLICY', 'PROVIDER_MISSING']);

export interface NexusErrorOptions {
  provider?: string;
  cause?: unknown;
  /** A hint appended to the message: what the user should do next. */
  hint?: string;
}

export class NexusError extends Error {
  readonly code: ErrorCode;
  readonly provider: string | undefined;
  readonly hint: string | undefined;

  constructor(code: ErrorCode, message: string, options: NexusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NexusError';
    this.code = code;
    this.provider = options.provider;
    this.hint = options.hint;
  }

  get exitCode(): number {
    return usageCodes.has(this.code) ? EXIT.usage : EXIT.failed;
  }

  /** `[nexus-backup] [s3] bucket "x" not found; check the repository URL` */
  format(): string {
    const provider = this.provider ? ` [${this.provider}]` : '';
    const hint = this.hint ? `; ${this.hint}` : '';
    return `[nexus-backup]${provider} ${this.message}${hint}`;
  }
}

/**
 * A NexusError from this copy of core or another one: an in-house provider installed with its own
 * copy throws errors of its own class, which `instanceof` does not recognise.
 */
export function isNexusError(error: unknown): error is NexusError {
  if (error instanceof NexusError) return true;
  const candidate = error as Partial<NexusError> | null;
  return (
    error instanceof Error &&
    candidate?.name === 'NexusError' &&
    typeof candidate.code === 'string' &&
    typeof candidate.exitCode === 'number' &&
    typeof candidate.format === 'function'
  );
}

/** Wraps anything thrown into a NexusError, keeping an existing one as it is. */
export function toNexusError(error: unknown, code: ErrorCode = 'INTERNAL', provider?: string): NexusError {
  if (isNexusError(error)) return error;
  if (isAbortError(error))
    return new NexusError('ABORTED', 'the operation was aborted', { provider, cause: error });
  const message = error instanceof Error ? error.message : String(error);
  return new NexusError(code, message, { provider, cause: error });
}

export function isAbortError(error: unknown): boolean {
  return (
    error instanceof Error &&
    (error.name === 'AbortError' || (error as { code?: string }).code === 'ABORT_ERR')
  );
}
