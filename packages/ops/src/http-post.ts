import { NexusError } from '@nexus-backup/core';

/** Every notification call gives up after this long: a hung webhook must not hold a backup run. */
export const HTTP_TIMEOUT_MS = 10_000;

/**
 * Notification URLs carry their token in the path or query, so anything a person reads names the
 * host only.
 */
export function urlHost(url: string): string {
  try {
    return new URL(url).host || '(no host)';
  } catch {
    return '(invalid URL)';
  }
}

/** POSTs a body; rejects with a NexusError naming only the host when the call fails or answers non-2xx. */
export async function httpPost(
  url: string,
  body: string,
  contentType: string,
  timeoutMs: number = HTTP_TIMEOUT_MS,
): Promise<void> {
  const host = urlHost(url);
  let response: Response;
  try {
    response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': contentType, 'user-agent': 'nexus-backup' },
      body,
      signal: AbortSignal.timeout(timeoutMs),
      redirect: 'follow',
    });
  } catch (error) {
    throw new NexusError('CONNECTION', `${host}: ${describeFetchError(error, timeoutMs)}`);
  }
  // Drain the body so the connection is released; its text is not shown (it may echo the URL).
  await response.arrayBuffer().catch(() => undefined);
  if (!response.ok) throw new NexusError('CONNECTION', `${host} answered HTTP ${response.status}`);
}

/** The reason without the URL: undici's messages are generic, the useful part is the cause's code. */
function describeFetchError(error: unknown, timeoutMs: number): string {
  const failure = error as { name?: string; cause?: { code?: string } };
  if (failure.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000}s`;
  if (failure.name === 'AbortError') return 'aborted';
  const code = failure.cause?.code;
  if (code) return `request failed (${code})`;
  if (error instanceof TypeError && /URL/i.test(error.message)) return 'not a valid URL';
  return 'request failed';
}
