/**
 * Webhook services whose URL path is the credential (anyone holding the URL can post): Slack, Discord,
 * Microsoft Teams (Office 365 connectors and Power Automate workflows), Telegram bots, IFTTT, Zapier and
 * Google Chat. The argv guard looks for user info and `?token=`, which these URLs do not have, so they
 * are recognised by host and path here. Each entry: host (exact or a `.suffix`) and the path it guards.
 */
const SECRET_PATH_WEBHOOKS: readonly { host: string; path: RegExp }[] = [
  { host: 'hooks.slack.com', path: /^\/(?:services|workflows|triggers)\// },
  { host: 'discord.com', path: /^\/api\/webhooks\// },
  { host: 'discordapp.com', path: /^\/api\/webhooks\// },
  { host: 'outlook.office.com', path: /^\/webhook/ },
  { host: '.webhook.office.com', path: /^\// },
  { host: '.logic.azure.com', path: /^\/workflows\// },
  { host: 'api.telegram.org', path: /^\/bot[^/]+/ },
  { host: 'maker.ifttt.com', path: /\/with\/key\// },
  { host: 'hooks.zapier.com', path: /^\/hooks\// },
  { host: 'chat.googleapis.com', path: /^\/v1\/spaces\/[^/]+\/messages/ },
];

/** The URL as it may be shown (scheme and host, the secret path as `/***`) when `value` is one of them. */
export function secretWebhookShown(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return undefined;
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
  const host = url.hostname.toLowerCase();
  const known = SECRET_PATH_WEBHOOKS.some(
    (entry) =>
      (entry.host.startsWith('.') ? host.endsWith(entry.host) : host === entry.host) &&
      entry.path.test(url.pathname),
  );
  return known ? `${url.protocol}//${url.host}/***` : undefined;
}
