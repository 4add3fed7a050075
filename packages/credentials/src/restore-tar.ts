import { chmod, lutimes, mkdir, mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { RestoreArtifact, RestoreReport, RunContext } from '@nexus-backup/core';
import { NexusError } from '@nexus-backup/core';
import { commitStaged } from './commit-staged.js';
import type { StagedItem } from './staged-tree.js';
import { listStaged } from './staged-tree.js';
import type { ExtractedEntry } from './tar-extract.js';
import { extractTar } from './tar-extract.js';

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
 * into a staging folder next to the target (same file system), checked, and moved into place only
 * after the artifact stream ended successfully, since a manifest hash mismatch surfaces only at its end.
 * On any error the staging folder is removed and the target is as it was.
 */
export async function restoreTar(
  ctx: RunContext,
  artifacts: AsyncIterable<RestoreArtifact>,
  options: RestoreTarOptions,
): Promise<RestoreTarResult> {
  const target = await resolveTarget(options);
  let createdParent: string | undefined;
  let staging: string | undefined;
  try {
    createdParent = await mkdir(dirname(target), { recursive: true });
    staging = await createStaging(target, options.provider);
    const stagedDir = join(staging, 'tree');
    const replacedDir = join(staging, 'replaced');
    await mkdir(stagedDir, { mode: 0o700 });
    await mkdir(replacedDir, { mode: 0o700 });

    const entries = await extractArtifacts(ctx, artifacts, stagedDir, options);
    const items = await listStaged(stagedDir);
    await settleStagedModes(stagedDir, items, entries, options.privateFiles);
    await options.validate?.(stagedDir, items);
    ctx.signal.throwIfAborted();

    const { replaced } = await commitStaged({
      stagedDir,
      replacedDir,
      target,
      items,
      entries,
      force: options.force,
      privateFolders: options.privateFiles,
      provider: options.provider,
      log: ctx.log,
    });
    const files = items.filter((item) => item.kind !== 'directory');
    const bytes = files.reduce((sum, item) => sum + item.size, 0);
    return { target, files: files.length, bytes, replaced, entries };
  } catch (error) {
    if (createdParent) await rm(createdParent, { recursive: true, force: true });
    throw asRestoreError(error, target, options.provider);
  } finally {
    if (staging) await rm(staging, { recursive: true, force: true });
  }
}

function asRestoreError(error: unknown, target: string, provider: string): unknown {
  if (error instanceof NexusError || !(error instanceof Error)) return error;
  const code = (error as NodeJS.ErrnoException).code;
  if (!code || !/^E[A-Z]+$/.test(code)) return error;
  return new NexusError('IO', `could not restore into ${target}: ${error.message}`, {
    provider,
    cause: error,
  });
}

async function resolveTarget(options: RestoreTarOptions): Promise<string> {
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
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return target;
    throw error;
  }
}

/**
 * Next to the target, so the target is not touched until the commit. Inside the target (hidden) when
 * that is impossible: the parent is not writable, or the target is a mount point, where a rename from
 * its parent would cross file systems.
 */
async function createStaging(target: string, provider: string): Promise<string> {
  const targetStats = await stat(target).catch(() => undefined);
  const parentStats = await stat(dirname(target));
  const insideTarget = () => mkdtemp(join(target, '.nexus-restore-'));
  if (targetStats && targetStats.dev !== parentStats.dev) return insideTarget();
  try {
    return await mkdtemp(join(dirname(target), `.${basename(target)}.nexus-restore-`));
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
