import { stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { isAbsolute, relative, resolve, sep } from 'node:path';
import type { Json, Logger, Source } from '@nexus-backup/core';
import { defineSource, NexusError } from '@nexus-backup/core';
import picomatch from 'picomatch';
import { drillTar } from './drill-tar.js';
import { readGitState } from './git-state.js';
import { folderRecovery } from './recovery/index.js';
import { restoreTar, restoreTarReport, settleTargetLeftovers } from './restore-tar.js';
import { packTree } from './tar-pack.js';
import type { TreeSummary } from './tree-entry.js';
import { estimateTarBytes, summarize } from './tree-entry.js';
import { walkTree } from './tree-walk.js';

const PROVIDER = 'files';
const ARTIFACT = 'files.tar';

/** Configuration files and folders (`.env`, compose files, `docker/`) as one tar, modes and mtimes kept. */
export const files = defineSource({
  name: PROVIDER,
  description: 'configuration files and folders (.env, compose files, docker/), with host and git commit',
  options: {
    paths: {
      type: 'string[]',
      description: 'files and folders to back up, relative to --base-dir',
      required: true,
      positional: true,
      placeholder: 'PATH',
    },
    baseDir: {
      type: 'string',
      description: 'folder the paths are relative to and stored relative to (default: the current folder)',
      placeholder: 'DIR',
    },
    exclude: {
      type: 'string[]',
      description:
        'globs to leave out; a glob without "/" matches a name at any depth (e.g. node_modules, *.log)',
      placeholder: 'GLOB',
    },
    followSymlinks: {
      type: 'boolean',
      description: 'store what symlinks point to instead of the links',
      default: false,
    },
  },
  restoreOptions: {
    toDir: {
      type: 'string',
      description: 'folder to restore into, created if missing (credentials: folder 0700, files 0600)',
      required: true,
      placeholder: 'DIR',
    },
    force: {
      type: 'boolean',
      description: 'overwrite files that already exist in --to-dir',
      default: false,
    },
  },
  create(options): Source {
    const baseDir = resolve(options.baseDir ?? process.cwd());
    const followSymlinks = options.followSymlinks;
    const isExcluded = options.exclude?.length
      ? picomatch(options.exclude, { dot: true, basename: true })
      : () => false;
    const select = (log: Logger) => selectFiles(baseDir, options.paths, followSymlinks, isExcluded, log);
    return {
      recovery: folderRecovery('entries'),
      async describe(ctx) {
        const [summary, git] = await Promise.all([select(ctx.log), readGitState(baseDir)]);
        const description: { [key: string]: Json } = {
          host: hostname(),
          baseDir,
          paths: options.paths,
          files: summary.files,
          bytes: summary.bytes,
        };
        if (git) description.git = { ...git };
        return description;
      },
      async *backup(ctx) {
        ctx.signal.throwIfAborted();
        const summary = await select(ctx.log);
        yield {
          name: ARTIFACT,
          stream: packTree({
            baseDir,
            entries: summary.entries,
            hardLinks: true,
            provider: PROVIDER,
            signal: ctx.signal,
            log: ctx.log,
          }),
          expectedBytes: estimateTarBytes(summary.entries),
          meta: { files: summary.files, bytes: summary.bytes },
        };
      },
      settleTarget: (ctx, target) => settleTargetLeftovers(ctx, PROVIDER, String(target.toDir)),
      async restore(ctx, artifacts, target) {
        const result = await restoreTar(ctx, artifacts, {
          provider: PROVIDER,
          artifactName: ARTIFACT,
          toDir: String(target.toDir),
          force: target.force === true,
          privateFiles: false,
        });
        return restoreTarReport(
          result,
          `restored ${result.files} file(s), ${result.bytes} bytes, into ${result.target}`,
        );
      },
      drill(ctx, artifacts) {
        return drillTar(ctx, artifacts, {
          provider: PROVIDER,
          artifactName: ARTIFACT,
          privateFiles: false,
        });
      },
    };
  },
});

async function selectFiles(
  baseDir: string,
  paths: string[],
  followSymlinks: boolean,
  isExcluded: (path: string) => boolean,
  log: Logger,
): Promise<TreeSummary> {
  const baseStats = await stat(baseDir).catch(() => undefined);
  if (!baseStats?.isDirectory()) {
    throw new NexusError('NOT_FOUND', `base folder ${baseDir} does not exist`, {
      provider: PROVIDER,
      hint: 'check --base-dir',
    });
  }
  if (paths.length === 0) {
    throw new NexusError('USAGE', 'no paths to back up', {
      provider: PROVIDER,
      hint: 'name files or folders, e.g. nexus-backup backup files .env docker-compose.yml docker',
    });
  }
  const roots = paths.map((path) => relativeInside(baseDir, path));
  const entries = await walkTree(baseDir, roots, {
    provider: PROVIDER,
    followSymlinks,
    keepDirectories: true,
    excluded: isExcluded,
    included: () => true,
    descend: () => true,
    log,
  });
  return summarize(entries);
}

/** The `/`-separated path of `path` relative to `baseDir` (`''` for the base itself); refuses escapes. */
function relativeInside(baseDir: string, path: string): string {
  const inside = relative(baseDir, resolve(baseDir, path));
  if (inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside)) {
    throw new NexusError('USAGE', `"${path}" is outside the base folder ${baseDir}`, {
      provider: PROVIDER,
      hint: 'paths are stored relative to --base-dir; pass a --base-dir that contains every path',
    });
  }
  return inside.split(sep).join('/');
}
