import { expect } from 'vitest';

/**
 * Abort errors come as Node's AbortError, a DOMException ABORT_ERR or a NexusError ABORTED; callers
 * branch on any of them to report a cancellation rather than a failure.
 */
export function isAbortLike(error: unknown): boolean {
  const { name, code } = (error ?? {}) as { name?: unknown; code?: unknown };
  return name === 'AbortError' || code === 'ABORT_ERR' || code === 'ABORTED';
}

/** Checks the shape rather than `instanceof`, so an in-house provider with its own copy of core passes too. */
export async function expectNexusError(promise: Promise<unknown>, code: string): Promise<void> {
  await expect(promise).rejects.toMatchObject({ name: 'NexusError', code });
}

/** The rejection of a promise, or undefined when it resolved. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => undefined,
    (error: unknown) => error,
  );
}
