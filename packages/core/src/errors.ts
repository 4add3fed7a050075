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
  | 'INTEGRITY' // hash mismatch, tampering, truncation, wrong passphrase, damaged manifest
  | 'TARGET' // restore target not usable (not empty, exists, not writable)
  | 'IO' // a destination or source failed to read or write
  | 'CONNECTION' // a service could not be reached or refused us
  | 'ABORTED'
  | 'INTERNAL';

export const EXIT = { ok: 0, warnings: 1, failed: 2, usage: 64 } as const;

const usageCodes: ReadonlySet<string> = new Set<ErrorCode>(['USAGE', 'CONFIG', 'POLICY', 'PROVIDER_MISSING']);

/**
 * Errors are recognised by this brand, not by `instanceof` against one class object: a provider
 * bundled with its own copy of core throws errors from another class object, and they must still get
 * their exit code and their `[provider]` tag. `Symbol.for` is shared by every copy in the process.
 */
const BRAND = Symbol.for('nexus-backup.error');

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

  /** `error instanceof NexusError` is true for branded errors from any copy of core. */
  static override [Symbol.hasInstance](value: unknown): boolean {
    return isNexusError(value);
  }

  constructor(code: ErrorCode, message: string, options: NexusErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'NexusError';
    this.code = code;
    this.provider = options.provider;
    this.hint = options.hint;
    Object.defineProperty(this, BRAND, { value: true });
  }

  get exitCode(): number {
    return exitCodeOf(this.code);
  }

  /** `[nexus-backup] [s3] bucket "x" not found; check the repository URL` */
  format(): string {
    return formatError(this);
  }
}

/**
 * A NexusError from this copy of core or another one: an in-house provider installed with its own
 * copy throws errors of its own class, which `instanceof` does not recognise.
 */
export function isNexusError(error: unknown): error is NexusError {
  return (
    typeof error === 'object' &&
    error !== null &&
    (error as { [BRAND]?: unknown })[BRAND] === true &&
    typeof (error as { code?: unknown }).code === 'string'
  );
}

/** The one place error codes become exit codes: usage and config mistakes 64, everything else 2. */
export function exitCodeOf(code: string): number {
  return usageCodes.has(code) ? EXIT.usage : EXIT.failed;
}

/** The exit code for anything thrown: a branded error by its code, anything else as a failure. */
export function exitCodeFor(error: unknown): number {
  return isNexusError(error) ? exitCodeOf(error.code) : EXIT.failed;
}

/** The one-line form, read from the fields so an error from another copy of core formats the same. */
export function formatError(error: Pick<NexusError, 'message' | 'provider' | 'hint'>): string {
  const provider = error.provider ? ` [${error.provider}]` : '';
  const hint = error.hint ? `; ${error.hint}` : '';
  return `[nexus-backup]${provider} ${error.message}${hint}`;
}

/** Wraps anything thrown into a NexusError, keeping an existing one (from any copy of core) as it is. */
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
