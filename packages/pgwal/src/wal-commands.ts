import {
  type CommandServices,
  defineCommand,
  EXIT,
  type Json,
  NexusError,
  type PlannedTransform,
  type Repository,
} from '@nexus-backup/core';
import { checkContinuity } from './continuity.js';
import { checkWalArchives, continuityLines } from './wal-checks.js';
import { fetchWalFile } from './wal-fetch.js';
import { fetchWithPrefetch, PREFETCH_FOLDER } from './wal-prefetch.js';
import { pushWalFile } from './wal-push.js';
import { drainSpool, spoolWalFile } from './wal-spool.js';

const pipelineOption = {
  type: 'string',
  description:
    'the WAL pipeline: its folder in the repository (config: a pipeline whose transforms and `to` are used)',
  default: 'wal',
} as const;

/** Where `wal push` and `wal daemon` write. */
const toOption = {
  type: 'string[]',
  description: "repository path, URL or config name; repeat for several (default: the config pipeline's)",
  commaSeparated: false,
} as const;

const transformsOption = {
  type: 'string[]',
  description: "transforms in order, e.g. gzip,aes, or none (default: the config pipeline's, else gzip)",
} as const;

/** `wal push %p` as archive_command. */
export const walPush = defineCommand({
  path: ['wal', 'push'],
  description:
    "archive one WAL file (archive_command = 'nexus-backup wal push %p --to /backups'); durable before exit 0",
  arguments: [{ name: 'path', description: '%p: the WAL file to archive', required: true }],
  options: {
    to: toOption,
    pipeline: pipelineOption,
    transforms: transformsOption,
    spool: {
      type: 'string',
      description:
        'async mode: only copy the file into this local folder (fsynced); `wal daemon --spool` archives it',
      placeholder: 'DIR',
    },
  },
  async run([path], options, services) {
    if (options.spool) {
      const outcome = await spoolWalFile(path as string, options.spool);
      services.ctx.log.debug(`${path}: ${outcome} in ${options.spool}`);
      return EXIT.ok;
    }
    const { repositories, transforms } = await pushTargets('wal push', options, services);
    const outcomes = await pushWalFile(
      { path: path as string, pipeline: options.pipeline, repositories, transforms },
      services.ctx,
    );
    for (const outcome of outcomes)
      services.ctx.log.debug(`${path}: ${outcome.action} in ${outcome.repository}`);
    return EXIT.ok;
  },
});

/** Where `wal push` and `wal daemon` write, and through which transforms: flags first, else the config pipeline's. */
async function pushTargets(
  command: string,
  options: { to?: string[] | undefined; pipeline: string; transforms?: string[] | undefined },
  services: CommandServices,
): Promise<{ repositories: Repository[]; transforms: PlannedTransform[] }> {
  const configured = await services.configPipeline(options.pipeline);
  const targets = options.to ?? configured?.to.map((target) => target.name ?? target.url) ?? [];
  if (targets.length === 0) {
    throw new NexusError('USAGE', `${command} needs a repository`, {
      hint: `add --to <repository>, or --config with a pipeline "${options.pipeline}"`,
    });
  }
  // Both write: a local repository that does not exist yet is created.
  const repositories = await Promise.all(
    targets.map((target) => services.openRepository(target, { create: true })),
  );
  return { repositories, transforms: await pushTransforms(options.transforms, configured, services) };
}

async function pushTransforms(
  names: string[] | undefined,
  configured: Awaited<ReturnType<CommandServices['configPipeline']>>,
  services: CommandServices,
): Promise<PlannedTransform[]> {
  if (names === undefined && configured) {
    return Promise.all(
      configured.transforms.map((use) => services.createTransform(use.use, use.options, use.path)),
    );
  }
  const chosen = (names ?? ['gzip']).filter((name) => name !== 'none');
  return Promise.all(chosen.map((name) => services.createTransform(name, {}, `--transforms ${name}`)));
}

/** `wal daemon --spool DIR`: archives what async `wal push --spool` left, in one long-running process. */
export const walDaemon = defineCommand({
  path: ['wal', 'daemon'],
  description:
    'archive WAL files spooled by `wal push --spool` (runs until SIGTERM; --once drains and exits)',
  options: {
    spool: {
      type: 'string',
      description: 'the spool folder `wal push --spool` writes',
      required: true,
      placeholder: 'DIR',
    },
    to: toOption,
    pipeline: pipelineOption,
    transforms: transformsOption,
    once: {
      type: 'boolean',
      description: 'archive what is spooled now, then exit (non-zero if any push failed)',
    },
    interval: { type: 'number', description: 'seconds between looks at an empty spool', default: 1 },
  },
  async run(_args, options, services) {
    const { repositories, transforms } = await pushTargets('wal daemon', options, services);
    const pushed = await drainSpool(
      options.spool,
      async (path) => {
        await pushWalFile({ path, pipeline: options.pipeline, repositories, transforms }, services.ctx);
      },
      services.ctx,
      { once: Boolean(options.once), intervalMs: options.interval * 1000 },
    );
    services.ctx.log.info(`archived ${pushed} spooled WAL file(s) from ${options.spool}`);
    return EXIT.ok;
  },
});

/** `wal fetch %f %p` as restore_command. */
export const walFetch = defineCommand({
  path: ['wal', 'fetch'],
  description:
    'restore one archived WAL file to a path (restore_command); exit 0 done, 1 not in the archive, 2 damaged (nothing written)',
  arguments: [
    { name: 'name', description: '%f: the WAL file name', required: true },
    { name: 'target', description: '%p: where to write it', required: true },
  ],
  options: {
    from: { type: 'string', description: 'repository path, URL or config name', required: true },
    pipeline: pipelineOption,
    prefetch: {
      type: 'number',
      description: `also fetch this many following segments into ${PREFETCH_FOLDER}/ beside %p, for the next calls`,
      default: 0,
      integer: true,
      min: 0,
      max: 64,
    },
  },
  async run([name, target], options, services) {
    const repository = await services.openRepository(options.from);
    const input = {
      name: name as string,
      target: target as string,
      pipeline: options.pipeline,
      repository,
      loadTransform: services.loadTransform,
    };
    const marker =
      options.prefetch > 0
        ? await fetchWithPrefetch(input, options.prefetch, services.ctx)
        : await fetchWalFile(input, services.ctx);
    if (!marker) {
      // PostgreSQL asks for files past the archive's end on purpose: this is how recovery ends.
      services.ctx.log.info(`${name} is not in ${repository.label} (${options.pipeline})`);
      return EXIT.warnings;
    }
    return EXIT.ok;
  },
});

/** `wal verify`: archive continuity per timeline, naming the gaps (what `verify <wal pipeline>` runs too). */
export const walVerify = defineCommand({
  path: ['wal', 'verify'],
  description:
    "check WAL archive continuity from each base backup's start to the newest segment; exit 2 naming the gaps",
  options: {
    from: { type: 'string', description: 'repository path, URL or config name', required: true },
    pipeline: pipelineOption,
  },
  async run(_args, options, services) {
    const repository = await services.openRepository(options.from);
    const report = await checkContinuity(repository, options.pipeline, services.ctx);
    if (services.json) services.print(report as unknown as Json);
    else services.print(continuityLines(report, repository.label));
    return report.ok ? EXIT.ok : EXIT.failed;
  },
});

/** `wal check --max-age 15m [--db URL]`: is archiving alive? (`check --max-wal-age` runs the same judgement.) */
export const walCheck = defineCommand({
  path: ['wal', 'check'],
  description:
    'fail (exit 2) when archiving stalled: the newest archived WAL file is older than --max-age, or (with --db) archive_command is failing',
  options: {
    from: { type: 'string', description: 'repository path, URL or config name', required: true },
    pipeline: pipelineOption,
    maxAge: {
      type: 'string',
      description: 'the newest archived WAL file must be younger than this; m means minutes here, e.g. 15m',
      required: true,
    },
    db: {
      type: 'string',
      description:
        'also read pg_stat_archiver on this server: failing when its last failure is newer than its last success',
      placeholder: 'URL',
    },
  },
  async run(_args, options, services) {
    const repository = await services.openRepository(options.from);
    const result = await checkWalArchives(
      repository,
      { maxWalAge: options.maxAge, walPipeline: options.pipeline, ...(options.db ? { db: options.db } : {}) },
      services.ctx,
    );
    const ok = result.problems.length === 0;
    if (services.json) services.print({ ok, ...result } as unknown as Json);
    else services.print([...result.lines, ...result.problems.map((problem) => `FAIL  ${problem.message}`)]);
    return ok ? EXIT.ok : EXIT.failed;
  },
});

export const walCommands = [walPush, walDaemon, walFetch, walVerify, walCheck];
