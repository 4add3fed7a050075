import { camelCase, NexusError, type OptionSpec, resolveOptions } from '@nexus-backup/core';
import { type S3Options, s3Options } from './s3-options.js';

const CREDENTIALS_HINT =
  'credentials come from the AWS SDK chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE (shared config), or an instance/container role';

/** Options that live in the URL's host and path rather than its query. */
const FROM_LOCATION = new Set(['bucket', 'prefix']);

/**
 * `s3://bucket/prefix?region=eu-west-1&endpoint=http://127.0.0.1:9000&forcePathStyle=true` into
 * options. Query keys are the option names (camelCase, kebab-case accepted). Credentials are refused.
 */
export function s3OptionsFromUrl(url: URL): S3Options {
  if (url.protocol !== 's3:') {
    throw new NexusError('USAGE', `not an s3 URL: ${url.protocol}//…; expected s3://bucket/prefix`, {
      provider: 's3',
    });
  }
  if (url.username !== '' || url.password !== '') {
    throw new NexusError(
      'USAGE',
      'credentials in an s3:// URL are refused (URLs end up in logs and shell history)',
      {
        provider: 's3',
        hint: CREDENTIALS_HINT,
      },
    );
  }
  const bucket = decodeURIComponent(url.hostname);
  if (bucket === '') {
    throw new NexusError('USAGE', 'the s3 URL names no bucket; expected s3://bucket/prefix', {
      provider: 's3',
    });
  }
  const values: Record<string, unknown> = { bucket, prefix: trimSlashes(decodeURIComponent(url.pathname)) };
  const queryKeys = [...new Set(url.searchParams.keys())];
  const unknown = queryKeys.filter((key) => {
    const name = camelCase(key);
    return !(name in s3Options) || FROM_LOCATION.has(name);
  });
  if (unknown.length > 0) {
    const known = Object.keys(s3Options).filter((name) => !FROM_LOCATION.has(name));
    throw new NexusError(
      'USAGE',
      `unknown query parameter ${unknown.join(', ')} in the s3 URL; known: ${known.join(', ')}`,
      {
        provider: 's3',
      },
    );
  }
  for (const key of queryKeys) {
    const name = camelCase(key) as keyof typeof s3Options;
    const raw = url.searchParams.getAll(key).at(-1) ?? '';
    values[name] = parseQueryValue(s3Options[name], name, raw);
  }
  try {
    return resolveOptions(s3Options, { path: 's3 URL', provider: 's3', values, env: {} });
  } catch (error) {
    // resolveOptions says CONFIG; a URL is a command-line argument.
    if (error instanceof NexusError)
      throw new NexusError('USAGE', error.message, { provider: 's3', cause: error });
    throw error;
  }
}

function parseQueryValue(spec: OptionSpec, name: string, raw: string): unknown {
  switch (spec.type) {
    case 'number': {
      const number = Number(raw);
      if (!/^[+-]?(\d+(\.\d*)?|\.\d+)$/.test(raw.trim()) || !Number.isFinite(number)) {
        throw new NexusError('USAGE', `${name}=${raw} in the s3 URL must be a number`, { provider: 's3' });
      }
      return number;
    }
    case 'boolean':
      if (['true', '1', 'yes', ''].includes(raw)) return true;
      if (['false', '0', 'no'].includes(raw)) return false;
      throw new NexusError('USAGE', `${name}=${raw} in the s3 URL must be true or false`, { provider: 's3' });
    default:
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new NexusError(
          'USAGE',
          `${name}=${raw} in the s3 URL must be one of ${spec.choices.join(', ')}`,
          {
            provider: 's3',
          },
        );
      }
      return raw;
  }
}

function trimSlashes(path: string): string {
  return path.replace(/^\/+/, '').replace(/\/+$/, '');
}
