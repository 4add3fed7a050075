import { stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { NexusError, Repository, redactSecrets, resolveOptions } from '@nexus-backup/core';
import type { Runtime } from './runtime.js';

export interface RepositoryRef {
  url: string;
  optional: boolean;
  /** How messages name it: the config name, or the URL without credentials. */
  label: string;
}

const URL_LIKE = /^[a-z][a-z0-9+.-]*:\/\//i;

/** A `--to`/`--from` value: a repository name from the config, a URL, or a local path. */
export async function resolveRepositoryRef(value: string, runtime: Runtime): Promise<RepositoryRef> {
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

export interface OpenOptions {
  /** A backup (or a mirror) creates its repository; every other command reads one that must exist. */
  create?: boolean;
}

export async function openRepository(
  ref: RepositoryRef,
  runtime: Runtime,
  openOptions: OpenOptions = {},
): Promise<Repository> {
  let url: URL;
  try {
    url = new URL(ref.url.startsWith('/') ? pathToFileURL(ref.url).href : ref.url);
  } catch (error) {
    throw new NexusError('USAGE', `"${ref.label}" is not a valid repository URL or path`, { cause: error });
  }
  const scheme = url.protocol.replace(/:$/, '');
  const registry = await runtime.registry();
  const definition = await registry.destinationForScheme(scheme).catch((error: unknown) => {
    // The registry does not know which repository it was asked for; the message names it.
    if (error instanceof NexusError && error.code === 'USAGE')
      throw new NexusError('USAGE', `${error.message} in ${ref.label}`, { hint: error.hint, cause: error });
    throw error;
  });
  if (url.protocol === 'file:' && !openOptions.create) await assertLocalRepositoryExists(url, ref.label);
  const options = resolveOptions(definition.options, {
    path: ref.label,
    provider: definition.name,
    values: definition.fromUrl(url) as Record<string, unknown>,
    env: runtime.env,
  });
  const destination = await definition.create(options);
  runtime.closeAtExit(destination);
  return new Repository(destination, ref.label);
}

export async function openRepositoryByName(
  value: string,
  runtime: Runtime,
  openOptions: OpenOptions = {},
): Promise<Repository> {
  return openRepository(await resolveRepositoryRef(value, runtime), runtime, openOptions);
}

/** Reading a folder that is not there would list nothing and exit 0, as if the repository were empty. */
async function assertLocalRepositoryExists(url: URL, label: string): Promise<void> {
  const path = fileURLToPath(url);
  const found = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return undefined;
    throw new NexusError('IO', `cannot read the repository ${label}: ${error.message}`, { cause: error });
  });
  if (!found?.isDirectory()) {
    throw new NexusError(
      'NOT_FOUND',
      `the repository ${label} ${found ? 'is not a folder' : 'does not exist'}`,
      {
        hint: 'check the path (a backup with --to creates it)',
      },
    );
  }
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
