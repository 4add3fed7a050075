import { readFile, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger, Source } from '@nexus-backup/core';
import { defineSource, NexusError } from '@nexus-backup/core';
import picomatch from 'picomatch';
import { drillTar } from './drill-tar.js';
import { folderRecovery } from './recovery/index.js';
import { restoreTar, restoreTarReport, settleTargetLeftovers } from './restore-tar.js';
import type { StagedItem } from './staged-tree.js';
import { packTree } from './tar-pack.js';
import type { TreeSummary } from './tree-entry.js';
import { estimateTarBytes, summarize } from './tree-entry.js';
import { walkTree } from './tree-walk.js';

const PROVIDER = 'credentials';
const ARTIFACT = 'credentials.tar';

/**
 * A folder of credential files (service-account JSON, tokens) as one tar. Refuses to run without an
 * encrypting transform unless `allowPlaintext`; restores files 0600 in a 0700 folder, JSON checked.
 */
export const credentials = defineSource({
  name: PROVIDER,
  description: 'credential files from a folder (e.g. *.credentials.json); encrypted backups only by default',
  options: {
    dir: {
      type: 'string',
      description: 'folder holding the credential files',
      default: './credentials',
      placeholder: 'DIR',
    },
    pattern: {
      type: 'string',
      description: 'glob of files to include, relative to --dir (use **/*.json to include subfolders)',
      default: '*.json',
      placeholder: 'GLOB',
    },
    allowPlaintext: {
      type: 'boolean',
      description: 'allow a pipeline without an encrypting transform (credentials are then stored readable)',
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
  requiresEncryption: (options) => !options.allowPlaintext,
  create(options): Source {
    const dir = resolve(options.dir);
    const select = (log: Logger) => selectCredentials(dir, options.pattern, log);
    return {
      recovery: folderRecovery('folder'),
      async describe(ctx) {
        const { entries, files, bytes } = await select(ctx.log);
        // Names and sizes only: the contents are the secret.
        return {
          host: hostname(),
          dir,
          pattern: options.pattern,
          files,
          bytes,
          names: entries.map((e) => e.path),
        };
      },
      async *backup(ctx) {
        ctx.signal.throwIfAborted();
        const summary = await select(ctx.log);
        await checkJsonParses(dir, summary);
        if (summary.files === 0) ctx.log.warn(`[${PROVIDER}] no files in ${dir} match ${options.pattern}`);
        if (summary.skipped.length > 0) ctx.log.warn(skippedWarning(dir, options.pattern, summary.skipped));
        yield {
          name: ARTIFACT,
          stream: packTree({
            baseDir: dir,
            entries: summary.entries,
            hardLinks: false,
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
          privateFiles: true,
          validate: checkStagedJson,
        });
        return restoreTarReport(
          result,
          `restored ${result.files} credential file(s) into ${result.target}, mode 0600`,
        );
      },
      drill(ctx, artifacts) {
        return drillTar(ctx, artifacts, {
          provider: PROVIDER,
          artifactName: ARTIFACT,
          privateFiles: true,
        });
      },
    };
  },
});

/** What the pattern selects, and what it leaves out: files by path, folders not entered with a trailing `/`. */
async function selectCredentials(
  dir: string,
  pattern: string,
  log: Logger,
): Promise<TreeSummary & { skipped: string[] }> {
  const stats = await stat(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    throw new NexusError('NOT_FOUND', `credentials folder ${dir} does not exist`, {
      provider: PROVIDER,
      cause: error,
      hint: 'pass the folder with --dir',
    });
  });
  if (!stats.isDirectory()) {
    throw new NexusError('USAGE', `${dir} is not a folder`, {
      provider: PROVIDER,
      hint: 'pass a folder with --dir',
    });
  }
  const matches = picomatch(pattern, { dot: true });
  const recursive = pattern.includes('/');
  const skipped = new Set<string>();
  const entries = await walkTree(dir, [''], {
    provider: PROVIDER,
    followSymlinks: true,
    keepDirectories: false,
    excluded: () => false,
    included: (path) => {
      if (matches(path)) return true;
      skipped.add(path);
      return false;
    },
    descend: (path) => {
      if (path === '' || recursive) return true;
      skipped.add(`${path}/`);
      return false;
    },
    log,
  });
  return { ...summarize(entries), skipped: [...skipped].sort() };
}

/** Names only (a backup's manifest lists names too); never contents. */
function skippedWarning(dir: string, pattern: string, skipped: string[]): string {
  const shown =
    skipped.slice(0, 10).join(', ') + (skipped.length > 10 ? `, and ${skipped.length - 10} more` : '');
  return `[${PROVIDER}] skipped ${skipped.length} item(s) in ${dir} outside the pattern ${pattern}: ${shown}; pass --pattern to include them (e.g. --pattern '**/*' for everything)`;
}

function isJsonName(path: string): boolean {
  return path.toLowerCase().endsWith('.json');
}

/** A backup that restore would refuse is worth refusing now, while the broken file can still be fixed. */
async function checkJsonParses(dir: string, summary: TreeSummary): Promise<void> {
  for (const entry of summary.entries) {
    if (entry.kind !== 'file' || !isJsonName(entry.path)) continue;
    const text = await readFile(join(dir, entry.path), 'utf8').catch((error: unknown) => {
      throw new NexusError(
        'IO',
        `could not read credential file ${entry.path} in ${dir}: ${(error as Error).message}`,
        {
          provider: PROVIDER,
          cause: error,
          hint: 'run the backup as a user who can read it, or leave it out with --pattern',
        },
      );
    });
    if (!parses(text)) {
      throw new NexusError('IO', `credential file ${entry.path} in ${dir} is not valid JSON`, {
        provider: PROVIDER,
        hint: 'fix the file, or leave it out with --pattern',
      });
    }
  }
}

async function checkStagedJson(stagedDir: string, items: StagedItem[]): Promise<void> {
  for (const item of items) {
    if (item.kind !== 'file' || !isJsonName(item.path)) continue;
    if (!parses(await readFile(join(stagedDir, item.path), 'utf8'))) {
      throw new NexusError(
        'INTEGRITY',
        `credential file ${item.path} in the backup is not valid JSON; nothing was restored`,
        {
          provider: PROVIDER,
          hint: 'restore an older backup (nexus-backup list shows them)',
        },
      );
    }
  }
}

/** Never report the parser's message: V8 quotes the offending text, which is secret. */
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
