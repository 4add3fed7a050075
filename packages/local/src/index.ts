import { parse, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineDestination, NexusError } from '@nexus-backup/core';
import { createLocalDestination } from './local-destination.js';

/**
 * `--to "file://$BACKUP_DIR"` or `--to "$BACKUP_DIR/"` with the variable unset means the filesystem
 * root: backups (and prune) there are never what was meant.
 */
function refuseRootFolder(path: string): string {
  if (path.trim() === '' || resolve(path) === parse(resolve(path)).root) {
    throw new NexusError('USAGE', `the repository path "${path}" is the filesystem root`, {
      provider: 'local',
      hint: 'name a folder such as /var/backups/nexus (is a variable in the path unset?)',
    });
  }
  return path;
}

/** A repository in a local directory: atomic writes (temp file, fsync, rename), files 0600, directories 0700. */
export const local = defineDestination({
  name: 'local',
  description: 'a directory on this machine (or a mounted disk); writes are atomic and fsynced',
  schemes: ['file'],
  options: {
    path: {
      type: 'string',
      required: true,
      description: 'the repository directory; created (0700) when missing',
      placeholder: 'DIR',
    },
  },
  fromUrl(url) {
    if (url.protocol !== 'file:') {
      throw new NexusError('USAGE', `local repositories use file:// URLs, got ${url.protocol}//`, {
        provider: 'local',
      });
    }
    if (url.search !== '') {
      throw new NexusError('USAGE', `file:// repository URLs take no options, got "${url.search}"`, {
        provider: 'local',
        hint: 'remove the part after "?"',
      });
    }
    let path: string;
    try {
      path = fileURLToPath(url);
    } catch (error) {
      throw new NexusError('USAGE', `${url.href} is not a local path: ${(error as Error).message}`, {
        provider: 'local',
        cause: error,
        hint: 'use file:///absolute/path or a plain path',
      });
    }
    return { path };
  },
  create: (options) => createLocalDestination(refuseRootFolder(options.path)),
});
