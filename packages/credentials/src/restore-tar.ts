import type { Stats } from 'node:fs';
import { chmod, lutimes, mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { RestoreArtifact, RestoreReport, RunContext } from '@nexus-backup/core';
import { NexusError } from '@nexus-backup/core';
import { commitStaged, findConflicts } from './commit-staged.js';
import { settleFolders } from './folder-modes.js';
import {
  STAGING_MARK,
  settleLeftovers,
  settleLeftoversBeforeRestore,
  stagingOwnerTag,
} from './leftover-staging.js';
import { mergeExistingTarget } from './merge-existing.js';
import type { StagedItem } from './staged-tree.js';
import { listStaged } from './staged-tree.js';
import type { StagingJournal } from './staging-journal.js';
import { newJournal, TREE_DIR, writeJournal } from './staging-journal.js';
import type { ExtractedEntry } from './tar-extract.js';
import { extractTar } from './tar-extract.js';
import { removeStaging, switchIntoPlace } from './target-switch.js';

export interface RestoreTarOptions {
  provider: string;
  /** The one artifact this source writes, e.g. `files.tar`. */
  artifactName: string;
  toDir: string;
  force: boolean;
  /** Credentials: no links, files 0600, folders 0700. Files: the archive's links, modes and mtimes. */
  privateFiles: boolean;
  /** Runs on the complete staged tree before anything moves; throws to refuse the restore. */
  validate?(stagedDir: string, items: StagedItem[]): Promise<void>;
}

export interface RestoreTarResult {
  target: string;
  files: number;
  bytes: number;
  replaced: number;
  /** Every archive entry with the mode and kind it recorded, for a drill to compare with. */
  entries: Map<string, ExtractedEntry>;
}

/**
 * Restores a tar artifact into `toDir` without ever leaving it half-written: the archive is unpacked
 * into a staging folder next to the target (same file system) and checked; only after the artifact
 * stream ended successfully (a manifest hash mismatch surfaces only at its end) does the complete new
 * tree, with what the target held besides carried over, replace the target by two folder renames
 * recorded in a journal (see target-switch.ts). A kill at any moment leaves the old or the new
 * content; the next restore into the same target (or `nexus-backup cleanup`) settles what a killed
 * run left. On any error the staging folder is removed and the target is as it was.
 */
export async function restoreTar(
  ctx: RunContext,
  artifacts: AsyncIterable<RestoreArtifact>,
  options: RestoreTarOptions,
): Promise<RestoreTarResult> {
  const target = await resolveTarget(options);
  let createdParent: string | undefined;
  let staging: { path: string; beside: boolean } | undefined;
  try {
    createdParent = await mkdir(dirname(target), { recursive: true });
    await settleLeftoversBeforeRestore(target, { provider: options.provider, log: ctx.log });
    staging = await createStaging(target, options.provider);
    const journal = newJournal(target);
    await writeJournal(staging.path, journal);
    const stagedDir = join(staging.path, TREE_DIR);
    await mkdir(stagedDir, { mode: 0o700 });

    const entries = await extractArtifacts(ctx, artifacts, stagedDir, options);
    const items = await listStaged(stagedDir);
    await settleStagedModes(stagedDir, items, entries, options.privateFiles);
    await options.validate?.(stagedDir, items);
    ctx.signal.throwIfAborted();

    const commit = { stagedDir, target, items, entries, force: options.force, provider: options.provider };
    let replaced: number;
    if (staging.beside) {
      replaced = await switchTree(staging.path, journal, commit, options.privateFiles);
    } else {
      // The target is a mount point or its parent is read-only: no folder rename is possible, so
      // files move one by one (undone on failure, but not atomic under kill -9).
      const replacedDir = join(staging.path, 'replaced');
      await mkdir(replacedDir, { mode: 0o700 });
      await writeJournal(staging.path, { ...journal, phase: 'switching', hadTarget: true, inPlace: true });
      ({ replaced } = await commitStaged({
        ...commit,
        replacedDir,
        privateFolders: options.privateFiles,
        log: ctx.log,
      }));
      await writeJournal(staging.path, { ...journal, phase: 'switched', hadTarget: true, inPlace: true });
    }
    const files = items.filter((item) => item.kind !== 'directory');
    const bytes = files.reduce((sum, item) => sum + item.size, 0);
    return { target, files: files.length, bytes, replaced, entries };
  } catch (error) {
    if (createdParent) await rm(createdParent, { recursive: true, force: true });
    throw asRestoreError(error, target, options.provider);
  } finally {
    if (staging) await removeStaging(staging.path);
  }
}

interface SwitchCommit {
  stagedDir: string;
  target: string;
  items: StagedItem[];
  entries: Map<string, ExtractedEntry>;
  force: boolean;
  provider: string;
}

/** Completes the staged tree with the target's other content, then switches it in; returns files replaced. */
async function switchTree(
  staging: string,
  journal: StagingJournal,
  commit: SwitchCommit,
  privateFiles: boolean,
): Promise<number> {
  const existing = await findConflicts(commit);
  const hasTarget = await stat(commit.target).then(
    () => true,
    () => false,
  );
  const folders = hasTarget
    ? await mergeExistingTarget({ ...commit, stagedDir: commit.stagedDir })
    : new Map<string, Stats>();
  await settleFolders({ ...commit, existing: folders, privateFolders: privateFiles });
  await switchIntoPlace(staging, commit.target, journal);
  return [...existing.values()].filter((stats) => !stats.isDirectory()).length;
}

/** `nexus-backup cleanup --to-dir DIR`: settles what killed restores into `toDir` left, as a restore does first. */
export async function settleTargetLeftovers(
  ctx: RunContext,
  provider: string,
  toDir: string,
): Promise<RestoreReport> {
  const target = await resolveTarget({ provider, toDir });
  const { lines, live } = await settleLeftovers(target, { provider, log: ctx.log });
  const running = live.map((staging) => `left ${staging} alone: its restore is still running`);
  const all = [...lines, ...running];
  return { lines: all.length > 0 ? all : [`nothing left by killed restores into ${target}`] };
}

function asRestoreError(error: unknown, target: string, provider: string): unknown {
  if (error instanceof NexusError || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (!code || !/^E[A-Z]+$/.test(code)) return error;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    const what = code === 'ENOSPC' ? 'no space left' : 'disk quota exceeded';
    return new NexusError(
      'IO',
      `${what} on ${dirname(target)} while restoring into ${target}; nothing was restored`,
      {
        provider,
        cause: error,
        hint: 'free space there (the restore needs room for the restored files next to the target), or restore into another --to-dir',
      },
    );
  }
  return new NexusError('IO', `could not restore into ${target}: ${error.message}`, {
    provider,
    cause: error,
  });
}

async function resolveTarget(options: Pick<RestoreTarOptions, 'provider' | 'toDir'>): Promise<string> {
  const target = resolve(options.toDir);
  try {
    const stats = await stat(target);
    if (!stats.isDirectory()) {
      throw new NexusError('TARGET', `restore target ${target} exists and is not a folder`, {
        provider: options.provider,
        hint: 'pass a folder (or a path that does not exist yet) as --to-dir',
      });
    }
    // A symlinked target means the folder it points to; staging must sit next to that folder.
    return await realpath(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return target;
    if (code === 'ENOTDIR') {
      throw new NexusError('TARGET', `restore target ${target} lies under a file, not a folder`, {
        provider: options.provider,
        cause: error,
        hint: 'pass a --to-dir whose parent folders are folders',
      });
    }
    throw error;
  }
}

/**
 * Next to the target, so the target is not touched until the switch. Inside the target (hidden) when
 * that is impossible: the parent is not writable, or the target is a mount point, where a rename from
 * its parent would cross file systems.
 */
async function createStaging(target: string, provider: string): Promise<{ path: string; beside: boolean }> {
  const targetStats = await stat(target).catch(() => undefined);
  const parentStats = await stat(dirname(target));
  const insideTarget = async () => ({
    path: await mkdtemp(join(target, `${STAGING_MARK}${stagingOwnerTag()}`)),
    beside: false,
  });
  if (targetStats && targetStats.dev !== parentStats.dev) return insideTarget();
  try {
    return {
      path: await mkdtemp(join(dirname(target), `.${basename(target)}${STAGING_MARK}${stagingOwnerTag()}`)),
      beside: true,
    };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if ((code === 'EACCES' || code === 'EPERM') && targetStats) return insideTarget();
    throw new NexusError(
      'TARGET',
      `cannot create a staging folder next to ${target}: ${(error as Error).message}`,
      {
        provider,
        cause: error,
        hint: 'restore needs write access to the target folder or its parent',
      },
    );
  }
}

async function extractArtifacts(
  ctx: RunContext,
  artifacts: AsyncIterable<RestoreArtifact>,
  stagedDir: string,
  options: RestoreTarOptions,
): Promise<Map<string, ExtractedEntry>> {
  let entries: Map<string, ExtractedEntry> | undefined;
  for await (const artifact of artifacts) {
    if (artifact.name !== options.artifactName || entries) {
      artifact.stream.destroy();
      const why = entries ? 'a second' : 'an unexpected';
      throw new NexusError('INTEGRITY', `the backup holds ${why} artifact "${artifact.name}"`, {
        provider: options.provider,
        hint: `a ${options.provider} backup has exactly one artifact, ${options.artifactName}; check the backup id`,
      });
    }
    entries = await extractTar(artifact.stream, {
      dir: stagedDir,
      allowLinks: !options.privateFiles,
      provider: options.provider,
      signal: ctx.signal,
    });
  }
  if (!entries) {
    throw new NexusError('NOT_FOUND', `the backup has no ${options.artifactName} artifact`, {
      provider: options.provider,
    });
  }
  return entries;
}

/**
 * node-tar creates files through the process umask; set the exact modes (or 0600 for credentials)
 * and symlink mtimes while still staged, so a rename puts finished files in place. Setuid and setgid
 * bits are dropped: restored files belong to whoever restores them (often root), and a tampered
 * archive must not be able to plant a setuid program.
 */
const SETID_BITS = 0o6000;

async function settleStagedModes(
  stagedDir: string,
  items: StagedItem[],
  entries: Map<string, ExtractedEntry>,
  privateFiles: boolean,
): Promise<void> {
  for (const item of items) {
    const path = join(stagedDir, item.path);
    const entry = entries.get(item.path);
    if (item.kind === 'file') {
      await chmod(path, privateFiles ? 0o600 : (entry?.mode ?? 0o644) & ~SETID_BITS);
    } else if (item.kind === 'symlink' && entry?.mtime) {
      await lutimes(path, entry.mtime, entry.mtime);
    }
  }
}

/** The restore report both sources give: their own first line, the same details. */
export function restoreTarReport(result: RestoreTarResult, line: string): RestoreReport {
  const replaced = result.replaced > 0 ? ` (${result.replaced} replaced)` : '';
  return {
    lines: [`${line}${replaced}`],
    details: { target: result.target, files: result.files, bytes: result.bytes, replaced: result.replaced },
  };
}
