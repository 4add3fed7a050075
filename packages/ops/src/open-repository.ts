import { stat } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { isNexusError, NexusError, Repository, resolveOptions } from '@nexus-backup/core';
import type { OpsServices } from './services.js';

/** A repository as an operation is given it: where it is, and how messages name it. */
export interface RepositoryRef {
  /** A URL (`s3://bucket/prefix`, `file:///backups`) or an absolute path. */
  url: string;
  /** Its failure is a warning (exit 1), not a failed run. */
  optional: boolean;
  /** How messages name it: a config name, or the URL without credentials. */
  label: string;
}

export interface OpenOptions {
  /** A backup (or a mirror) creates its repository; every other operation reads one that must exist. */
  create?: boolean;
}

/** The destination whose `schemes` include the URL's scheme, created from the URL's options. */
export async function openRepository(
  ref: RepositoryRef,
  services: OpsServices,
  openOptions: OpenOptions = {},
): Promise<Repository> {
  let url: URL;
  try {
    url = new URL(ref.url.startsWith('/') ? pathToFileURL(ref.url).href : ref.url);
  } catch (error) {
    throw new NexusError('USAGE', `"${ref.label}" is not a valid repository URL or path`, { cause: error });
  }
  const scheme = url.protocol.replace(/:$/, '');
  const definition = await services.registry.destinationForScheme(scheme).catch((error: unknown) => {
    // The registry does not know which repository it was asked for; the message names it.
    if (isNexusError(error) && error.code === 'USAGE')
      throw new NexusError('USAGE', `${error.message} in ${ref.label}`, { hint: error.hint, cause: error });
    throw error;
  });
  if (url.protocol === 'file:' && !openOptions.create) await assertLocalRepositoryExists(url, ref.label);
  const options = resolveOptions(definition.options, {
    path: ref.label,
    provider: definition.name,
    values: definition.fromUrl(url) as Record<string, unknown>,
    env: services.env,
  });
  const destination = await definition.create(options);
  services.opened?.(destination);
  return new Repository(destination, ref.label);
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
