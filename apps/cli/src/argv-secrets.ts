import { type ArgvSecrets, NexusError, type ProviderDefinition, redactSecrets } from '@nexus-backup/core';
import { secretWebhookShown } from './secret-webhooks.js';

/** Where a password goes instead, for values no provider claims: the CLI's own flags and any other URL. */
const HINTS = {
  webhook:
    'pass the webhook URL through an environment variable (--notify-env VAR) or in the config file as $VAR',
  other: 'put the URL in an environment variable, or in the config file as $VAR',
} as const;

const SECRET_QUERY_KEY = /^(?:ssl)?password$|^passphrase$|secret|token/i;
const URL_START = /^([a-z][a-z0-9+.-]*):\/\//i;
/** Only a value that mentions one of these can hold a password in a provider's own syntax. */
const MAY_HOLD_PASSWORD = /password/i;

/** The definitions whose `argvSecrets` are consulted; loaded only once a value looks like it holds a password. */
export type DefinitionsLoader = () => Promise<readonly ProviderDefinition[]>;

/**
 * Every user on the machine can read a process's argv (`ps`), so a value carrying a password is
 * refused before anything runs, with where the password should go instead. A URL is read as libpq
 * reads one (user info, `?password=`/`?sslpassword=`, an empty user, surrounding blanks) whatever its
 * scheme; values in a provider's own syntax (libpq `key=value`) are recognised by its definition.
 * Providers are loaded only when a value may hold a password, so a clean command line starts fast.
 */
export async function rejectPasswordsInArgv(argv: string[], definitions: DefinitionsLoader): Promise<void> {
  let loaded: readonly ProviderDefinition[] | undefined;
  const rules = async () => {
    // A provider that fails to load must not hide the password: the generic hint still applies.
    loaded ??= await definitions().catch(() => []);
    return loaded.flatMap((definition) => (definition.argvSecrets ? [ruleOf(definition)] : []));
  };
  for (const arg of argv) {
    const value = arg.startsWith('--') && arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : arg;
    const webhook = secretWebhookShown(value);
    if (webhook) {
      throw new NexusError(
        'USAGE',
        `a webhook URL on the command line (${webhook}): its path is its secret, and anyone on this machine can read it with ps`,
        { hint: HINTS.webhook },
      );
    }
    const hint = await passwordHint(value, rules);
    if (hint) {
      throw new NexusError(
        'USAGE',
        `a password on the command line (${shownRedacted(value.trim())}): anyone on this machine can read it with ps`,
        { hint },
      );
    }
  }
}

interface ClaimedSecrets extends ArgvSecrets {
  schemes: readonly string[];
}

function ruleOf(definition: ProviderDefinition): ClaimedSecrets {
  const declared = definition.argvSecrets as ArgvSecrets;
  const own = definition.kind === 'destination' ? (definition.schemes ?? []) : [];
  return { ...declared, schemes: declared.schemes ?? own };
}

/** Where the password in `value` should go, or undefined when `value` holds none. */
export async function passwordHint(
  value: string,
  rules: () => Promise<readonly ClaimedSecrets[]>,
): Promise<string | undefined> {
  const text = value.trim();
  const scheme = URL_START.exec(text)?.[1]?.toLowerCase();
  if (scheme) {
    if (!urlHasPassword(text)) return undefined;
    const claimed = (await rules()).find((rule) => rule.schemes.includes(scheme));
    if (claimed) return claimed.hint;
    return scheme === 'http' || scheme === 'https' ? HINTS.webhook : HINTS.other;
  }
  if (!MAY_HOLD_PASSWORD.test(text)) return undefined;
  return (await rules()).find((rule) => rule.detect?.(text))?.hint;
}

/** `scheme://[user[:password]@]hosts[/path][?query]`, hosts possibly a libpq list (`h1:5432,h2`). */
function urlHasPassword(text: string): boolean {
  const rest = text.replace(URL_START, '');
  const authorityEnd = rest.search(/[/?#]/);
  const authority = authorityEnd === -1 ? rest : rest.slice(0, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at !== -1) {
    const userInfo = authority.slice(0, at);
    const colon = userInfo.indexOf(':');
    if (colon !== -1 && userInfo.slice(colon + 1) !== '') return true;
  }
  const query = rest.includes('?') ? rest.slice(rest.indexOf('?') + 1).split('#')[0] : '';
  return (query ?? '').split('&').some((pair) => {
    const [key = '', secret = ''] = pair.split(/=(.*)/s);
    if (secret !== '' && SECRET_QUERY_KEY.test(decode(key))) return true;
    // A URL inside an option (`?endpoint=http://user:pw@host`) is on argv just the same.
    const inner = decode(secret).trim();
    return URL_START.test(inner) && urlHasPassword(inner);
  });
}

/** `value` for the error line: passwords as `***`, and a whole option value that is a URL holding one. */
function shownRedacted(value: string): string {
  return redactSecrets(value).replace(/([?&][^=&#]*=)([^&#]*)/g, (whole, key: string, inner: string) => {
    const decoded = decode(inner).trim();
    return URL_START.test(decoded) && urlHasPassword(decoded) ? `${key}***` : whole;
  });
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, ' '));
  } catch {
    return text;
  }
}
