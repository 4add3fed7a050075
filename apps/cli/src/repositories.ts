import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { NexusError, type Repository, redactSecrets } from '@nexus-backup/core';
import type { OpenOptions, RepositoryRef } from '@nexus-backup/ops';
import type { Runtime } from './runtime.js';

export type { OpenOptions, RepositoryRef } from '@nexus-backup/ops';

const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** A `--to`/`--from` value: a repository name from the config, a URL, or a local path. */
export async function resolveRepositoryRef(value: string, runtime: Runtime): Promise<RepositoryRef> {
  // `--to "$BACKUP_DIR"` with the variable unset would otherwise be the current folder.
  if (value.trim() === '') {
    throw new NexusError('USAGE', 'the repository is an empty string', {
      hint: 'pass a path, URL or configured name (is a variable in it unset?)',
    });
  }
  const config = await runtime.config();
  const named = config?.repositories[value];
  if (named) return { url: named.url, optional: named.optional, label: value };
  if (URL_LIKE.test(value)) return withOptionalFlag(value);
  if (!value.startsWith('.') && !isAbsolute(value) && !value.includes('/') && config) {
    const known = Object.keys(config.repositories).join(', ') || '(none)';
    throw new NexusError('USAGE', `"${value}" is not a repository in ${config.file} (known: ${known})`, {
      hint: 'use a configured name, a URL, or a path like ./backups',
    });
  }
  return { url: pathToFileURL(resolve(value)).href, optional: false, label: resolve(value) };
}

/** Opens a repository through the operations layer, with this command line's registry and connections. */
export async function openRepository(
  ref: RepositoryRef,
  runtime: Runtime,
  openOptions: OpenOptions = {},
): Promise<Repository> {
  // The operations layer loads with the first command that opens a repository, not at startup.
  const { openRepository: open } = await import('@nexus-backup/ops');
  return open(ref, await runtime.services(), openOptions);
}

export async function openRepositoryByName(
  value: string,
  runtime: Runtime,
  openOptions: OpenOptions = {},
): Promise<Repository> {
  return openRepository(await resolveRepositoryRef(value, runtime), runtime, openOptions);
}

/** `scheme://user:secret@host/...` -> `scheme://user:***@host/...`: labels end up in logs and messages. */
export function redactUrl(value: string): string {
  return redactSecrets(value);
}

/**
 * `?optional=true` on a repository URL (`--to "s3://b/p?region=x&optional=true"`) marks it optional on
 * the command line, as `optional: true` does in the config: its failure is a warning (exit 1).
 */
function withOptionalFlag(value: string): RepositoryRef {
  const url = new URL(value);
  const flag = url.searchParams.get('optional');
  if (flag === null) return { url: value, optional: false, label: redactUrl(value) };
  if (flag !== 'true' && flag !== 'false') {
    throw new NexusError('USAGE', `optional=${flag} in ${redactUrl(value)} must be true or false`);
  }
  url.searchParams.delete('optional');
  return { url: url.href, optional: flag === 'true', label: redactUrl(url.href) };
}
