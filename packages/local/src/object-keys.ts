import { join, sep } from 'node:path';
import { NexusError } from '@nexus-backup/core';
import { isTempName } from './temp-names.js';

/**
 * Maps a `/`-separated key to a path under the repository root, refusing keys that could escape it
 * (`..`, absolute, empty segments) or that look like our temp files.
 */
export function pathForKey(root: string, key: string): string {
  const segments = key.split('/');
  const bad = segments.some(
    (segment) => segment === '' || segment === '.' || segment === '..' || segment.includes(sep),
  );
  if (bad || key.includes('\0')) {
    throw new NexusError(
      'USAGE',
      `invalid object key "${key}": use relative /-separated names without . or ..`,
      {
        provider: 'local',
      },
    );
  }
  if (isTempName(segments.at(-1) ?? '')) {
    throw new NexusError('USAGE', `invalid object key "${key}": the name is reserved for temp files`, {
      provider: 'local',
    });
  }
  return join(root, ...segments);
}
