import type { Stats } from 'node:fs';
import { chmod, lstat, mkdir, rename, rmdir, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@nexus-backup/core';
import { NexusError } from '@nexus-backup/core';
import type { StagedItem } from './staged-tree.js';
import { depth } from './staged-tree.js';
import type { ExtractedEntry } from './tar-extract.js';

export interface CommitOptions {
  /** Unpacked and validated tree. */
  stagedDir: string;
  /** Where files that `force` replaces are parked until the commit succeeded. */
  replacedDir: string;
  target: string;
  items: StagedItem[];
  entries: Map<string, ExtractedEntry>;
  force: boolean;
  /** Credentials: every folder 0700 (files were set 0600 while staged). Otherwise the archive's modes. */
  privateFolders: boolean;
  provider: string;
  log: Logger;
}

export interface CommitResult {
  replaced: number;
}

/** What a commit did, so a failure half-way can be undone step by step in reverse. */
type JournalStep =
  | { kind: 'mkdir'; path: string }
  | { kind: 'moved'; from: string; to: string }
  | { kind: 'parked'; from: string; to: string }
  | { kind: 'chmod'; path: string; mode: number }
  | { kind: 'utimes'; path: string; atime: Date; mtime: Date };

/**
 * Moves a staged tree into `target` (same file system, so each move is a rename). Checks every
 * conflict before touching anything; if a step fails, undoes the steps already taken so the target is
 * left as it was.
 */
export async function commitStaged(options: CommitOptions): Promise<CommitResult> {
  const existing = await findConflicts(options);
  const journal: JournalStep[] = [];
  try {
    return await applyCommit(options, existing, journal);
  } catch (error) {
    await undo(journal, options.log, options.provider);
    throw error;
  }
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    // ENOTDIR: a parent is not a folder; that parent is already reported as a conflict.
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw error;
  }
}

/** Existing target paths by staged path; throws TARGET listing every conflict `force` cannot (or may not) fix. */
export async function findConflicts(
  options: Pick<CommitOptions, 'target' | 'items' | 'force' | 'provider'>,
): Promise<Map<string, Stats>> {
  const existing = new Map<string, Stats>();
  const blocking: string[] = [];
  const overwritable: string[] = [];
  for (const item of options.items) {
    const stats = await lstatOrUndefined(join(options.target, item.path));
    if (!stats) continue;
    existing.set(item.path, stats);
    if (item.kind === 'directory') {
      if (!stats.isDirectory()) blocking.push(`${item.path} (exists and is not a folder)`);
    } else if (stats.isDirectory()) {
      blocking.push(`${item.path} (a folder is in the way)`);
    } else {
      overwritable.push(item.path);
    }
  }
  if (blocking.length > 0 || (overwritable.length > 0 && !options.force)) {
    const all = [...blocking, ...(options.force ? [] : overwritable)];
    const shown = all.slice(0, 20).join(', ') + (all.length > 20 ? `, and ${all.length - 20} more` : '');
    const hint =
      blocking.length > 0
        ? 'move those paths away or restore into another --to-dir'
        : 'pass --force to overwrite them, or restore into another --to-dir';
    throw new NexusError(
      'TARGET',
      `restore into ${options.target} would overwrite ${all.length} path(s): ${shown}`,
      {
        provider: options.provider,
        hint,
      },
    );
  }
  return existing;
}

async function applyCommit(
  options: CommitOptions,
  existing: Map<string, Stats>,
  journal: JournalStep[],
): Promise<CommitResult> {
  const { stagedDir, target, items } = options;
  let replaced = 0;
  const targetStats = await lstatOrUndefined(target);
  if (!targetStats) {
    await mkdir(target);
    journal.push({ kind: 'mkdir', path: target });
  }
  const createdFolders = new Set<string>();
  for (const item of items) {
    const to = join(target, item.path);
    if (item.kind === 'directory') {
      if (existing.has(item.path)) continue;
      // Writable while we fill it; the archive's mode is applied once its contents are in place.
      await mkdir(to, { mode: 0o700 });
      journal.push({ kind: 'mkdir', path: to });
      createdFolders.add(item.path);
      continue;
    }
    const from = join(stagedDir, item.path);
    if (existing.has(item.path)) {
      const parked = join(options.replacedDir, String(replaced++));
      await rename(to, parked);
      journal.push({ kind: 'parked', from: to, to: parked });
    }
    await rename(from, to);
    journal.push({ kind: 'moved', from, to });
  }

  // Deepest first: setting a folder's mtime must come after everything inside it changed.
  const folders = options.privateFolders
    ? ['', ...items.filter((item) => item.kind === 'directory').map((item) => item.path)]
    : [...createdFolders];
  folders.sort((a, b) => depth(b) - depth(a));
  for (const folder of folders) {
    const path = join(target, folder);
    const before = await lstat(path);
    const entry = options.entries.get(folder);
    const mode = options.privateFolders ? 0o700 : entry?.mode;
    if (mode !== undefined && (before.mode & 0o7777) !== mode) {
      await chmod(path, mode);
      journal.push({ kind: 'chmod', path, mode: before.mode & 0o7777 });
    }
    if (entry?.mtime && createdFolders.has(folder)) {
      await utimes(path, new Date(), entry.mtime);
      journal.push({ kind: 'utimes', path, atime: before.atime, mtime: before.mtime });
    }
  }
  return { replaced };
}

async function undo(journal: JournalStep[], log: Logger, provider: string): Promise<void> {
  for (const step of journal.reverse()) {
    try {
      switch (step.kind) {
        case 'mkdir':
          await rmdir(step.path);
          break;
        case 'moved':
        case 'parked':
          await rename(step.to, step.from);
          break;
        case 'chmod':
          await chmod(step.path, step.mode);
          break;
        case 'utimes':
          await utimes(step.path, step.atime, step.mtime);
          break;
      }
    } catch (error) {
      log.warn(`[${provider}] could not undo a restore step (${step.kind}): ${(error as Error).message}`);
    }
  }
}
