import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface GitState {
  commit: string;
  /** Uncommitted changes or untracked files anywhere in the work tree; absent when git could not tell. */
  dirty?: boolean;
}

/**
 * The commit checked out at `dir`, when `dir` is inside a git work tree. No git installed, not a
 * repository, or a repository without commits all give `undefined`: the manifest simply has no commit.
 */
export async function readGitState(dir: string): Promise<GitState | undefined> {
  const git = (args: string[]) =>
    run('git', ['-C', dir, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 30_000 });
  let commit: string;
  try {
    commit = (await git(['rev-parse', '--verify', '--quiet', 'HEAD'])).stdout.trim();
  } catch {
    return undefined;
  }
  if (!/^[0-9a-f]{40,64}$/.test(commit)) return undefined;
  try {
    const status = await git(['status', '--porcelain']);
    return { commit, dirty: status.stdout.trim() !== '' };
  } catch (error) {
    // So many changes that the listing overflowed: certainly dirty.
    if ((error as { code?: string }).code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER')
      return { commit, dirty: true };
    return { commit };
  }
}
