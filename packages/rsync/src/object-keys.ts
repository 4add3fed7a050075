import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
import { NexusError } from '@nexus-backup/core';

/** Uploads land under `.<name>.nexus-tmp-<hex>` in the same folder and are renamed when complete. */
export const TEMP_NAME = /^\..+\.nexus-tmp-[0-9a-f]{12}$/;

/** A fresh temp name next to `target`, which `list` hides and `cleanup` removes when stale. */
export function tempPathFor(target: string): string {
  return posix.join(
    posix.dirname(target),
    `.${posix.basename(target)}.nexus-tmp-${randomBytes(6).toString('hex')}`,
  );
}

/** Keys are relative, `/`-separated and never climb out of the repository folder. */
export function checkKey(key: string, provider = 'sftp'): string {
  const parts = key.split('/');
  if (
    key === '' ||
    key.startsWith('/') ||
    parts.some((part) => part === '' || part === '.' || part === '..')
  ) {
    throw new NexusError('INTERNAL', `invalid object key "${key}"`, { provider });
  }
  return key;
}
