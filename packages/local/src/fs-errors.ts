import { userInfo } from 'node:os';
import { isAbortError, isNexusError, NexusError, toNexusError } from '@nexus-backup/core';

/** What a person can do about each filesystem failure; the path itself is always in the message. */
function hintFor(code: string | undefined, path: string): string | undefined {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return `give user "${currentUser()}" write access to ${path} (chown or chmod u+rwx), or choose another repository path`;
    case 'EROFS':
      return `${path} is on a read-only filesystem; choose a writable repository path`;
    case 'ENOSPC':
    case 'EDQUOT':
      return `free space (or quota) on the filesystem holding ${path}, or prune old backups`;
    case 'ENOTDIR':
    case 'EEXIST':
      return `a file stands where a directory is needed in ${path}; move it or choose another repository path`;
    case 'ENOENT':
      return `${path} cannot be created there; choose a repository path on a normal, writable filesystem`;
    case 'EMFILE':
    case 'ENFILE':
      return 'too many open files; raise the limit (ulimit -n)';
    default:
      return undefined;
  }
}

function currentUser(): string {
  try {
    return userInfo().username;
  } catch {
    return String(process.getuid?.() ?? 'this user');
  }
}

/**
 * Turns a filesystem error into NexusError IO naming the path and the fix; aborts become ABORTED and
 * errors from elsewhere (a failing body stream, an integrity check) pass through unchanged.
 */
export function toLocalError(error: unknown, action: string, path: string): unknown {
  if (isNexusError(error)) return error;
  if (isAbortError(error)) return toNexusError(error, 'ABORTED', 'local');
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const fromFilesystem = typeof (error as NodeJS.ErrnoException | undefined)?.syscall === 'string';
  if (!fromFilesystem) return error;
  // The errno's own path is the most precise (the directory that could not be made, say).
  const failedPath = (error as NodeJS.ErrnoException).path ?? path;
  const hint = hintFor(code, failedPath);
  return new NexusError('IO', `could not ${action} ${failedPath}: ${code ?? (error as Error).message}`, {
    provider: 'local',
    cause: error,
    ...(hint ? { hint } : {}),
  });
}
