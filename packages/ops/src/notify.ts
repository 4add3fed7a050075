import type { NotifyConfig, NotifyEvent } from '@nexus-backup/core';
import { httpPost, urlHost } from './http-post.js';

/** What one notification says; `text` goes to webhooks and as the body of healthchecks pings. */
export interface NotifyMessage {
  event: NotifyEvent;
  text: string;
}

export interface NotifyFailure {
  host: string;
  message: string;
}

/** Discord refuses `content` over 2,000 characters; Slack shows long text collapsed anyway. */
const MAX_TEXT = 1900;

/** The body Slack (`text`) and Discord (`content`) incoming webhooks both accept. */
export function webhookBody(text: string): string {
  const short = text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text;
  return JSON.stringify({ text: short, content: short });
}

export async function postWebhook(url: string, text: string): Promise<void> {
  await httpPost(url, webhookBody(text), 'application/json');
}

export type PingKind = 'start' | 'success' | 'fail';

/** healthchecks.io ping URLs: the URL itself is success, `/start` and `/fail` are appended to the path. */
export function healthchecksUrl(url: string, kind: PingKind): string {
  if (kind === 'success') return url;
  const parsed = new URL(url);
  parsed.pathname = `${parsed.pathname.replace(/\/+$/, '')}/${kind}`;
  return parsed.href;
}

export async function pingHealthchecks(url: string, kind: PingKind, text = ''): Promise<void> {
  await httpPost(healthchecksUrl(url, kind), text, 'text/plain; charset=utf-8');
}

/**
 * Sends one event to every configured notifier that wants it, all at once. Never throws: a notifier
 * that fails is returned so the caller can report it (by host, never by URL).
 */
export async function notifyAll(targets: NotifyConfig[], message: NotifyMessage): Promise<NotifyFailure[]> {
  const calls = targets.map(async (target): Promise<NotifyFailure | undefined> => {
    try {
      if (target.kind === 'healthchecks') {
        const kind = healthchecksPing(target, message.event);
        if (kind) await pingHealthchecks(target.url, kind, message.text);
      } else if (target.on.includes(message.event)) {
        await postWebhook(target.url, message.text);
      }
      return undefined;
    } catch (error) {
      return { host: urlHost(target.url), message: (error as Error).message };
    }
  });
  return (await Promise.all(calls)).filter((failure): failure is NotifyFailure => failure !== undefined);
}

/**
 * Sends `/start` to every healthchecks notifier that expects success pings, so a run that hangs or is
 * killed is noticed too (healthchecks alerts when no end ping follows).
 */
export async function notifyStart(targets: NotifyConfig[], text: string): Promise<NotifyFailure[]> {
  const calls = targets
    .filter((target) => target.kind === 'healthchecks' && target.on.includes('success'))
    .map(async (target): Promise<NotifyFailure | undefined> => {
      try {
        await pingHealthchecks(target.url, 'start', text);
        return undefined;
      } catch (error) {
        return { host: urlHost(target.url), message: (error as Error).message };
      }
    });
  return (await Promise.all(calls)).filter((failure): failure is NotifyFailure => failure !== undefined);
}

/**
 * healthchecks has only success and fail: a warning is a fail when `warning` is listed in `on` (the
 * default), else a success (the run did finish), so a started check never hangs without an end ping.
 */
function healthchecksPing(target: NotifyConfig, event: NotifyEvent): PingKind | undefined {
  if (event === 'failure') return target.on.includes('failure') ? 'fail' : undefined;
  if (event === 'warning')
    return target.on.includes('warning') ? 'fail' : target.on.includes('success') ? 'success' : undefined;
  return target.on.includes('success') ? 'success' : undefined;
}
