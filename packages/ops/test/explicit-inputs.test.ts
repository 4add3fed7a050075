import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Logger, loadConfig, type NexusConfig } from '@nexus-backup/core';
import { afterEach, describe, expect, it } from 'vitest';
import { checkBackups, createServices, pipelineRepositories, runPipeline } from '../src/index.js';

const HOUR = 3600 * 1000;
const folders: string[] = [];
afterEach(async () => {
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

/** A folder with a file to back up and a config whose `files` pipeline writes to ./repo. */
async function project(): Promise<{ dir: string; config: NexusConfig }> {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-ops-'));
  folders.push(dir);
  await writeFile(join(dir, 'app.conf'), 'listen = 8080\n');
  await writeFile(
    join(dir, 'nexus-backup.yaml'),
    `pipelines:
  conf:
    source: { use: files, paths: [ app.conf ], baseDir: ${JSON.stringify(dir)} }
    transforms: []
    to: [ ./repo ]
    check: { maxAge: 1h }
`,
  );
  return { dir, config: await loadConfig(join(dir, 'nexus-backup.yaml')) };
}

/** A logger that keeps what it was told, so a test sees what the operations reported. */
function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (message) => lines.push(`info: ${message}`),
    warn: (message) => lines.push(`warning: ${message}`),
    debug: () => undefined,
  };
}

describe('operations take their inputs explicitly', () => {
  it('a pipeline run is recorded with the clock it is given, and a check judges ages by that clock', async () => {
    const { config } = await project();
    const pipeline = config.pipelines.conf;
    if (!pipeline) throw new Error('the test config has no conf pipeline');
    const fixed = new Date('2026-03-01T02:00:00.000Z');
    const services = createServices({ searchPaths: [import.meta.dirname], now: () => fixed });
    try {
      const run = await runPipeline(pipeline, services);
      expect(run.exitCode).toBe(0);
      expect(run.backup.record).toMatchObject({ status: 'success', startedAt: fixed, finishedAt: fixed });
      const [repository] = pipelineRepositories(pipeline);
      if (!repository) throw new Error('the pipeline names no repository');

      // The backup's own time is the real one; the check's clock decides how old it is.
      const later = createServices({
        searchPaths: [import.meta.dirname],
        now: () => new Date(Date.now() + 2 * HOUR),
      });
      const stale = await checkBackups({ repository, config }, later);
      expect(stale.ok).toBe(false);
      expect(stale.problems.map((problem) => problem.kind)).toEqual(['stale']);
      expect(stale.problems[0]?.message).toMatch(
        /^conf: stale: newest backup \S+ is 2h 00min old \(max 1h 00min\)$/,
      );

      const fresh = await checkBackups(
        { repository, config },
        createServices({ searchPaths: [import.meta.dirname] }),
      );
      expect(fresh).toMatchObject({ ok: true, problems: [] });
    } finally {
      await services.closeAll();
    }
  });

  it('a failing pipeline does not throw: its error, record and exit code come back, and nothing is printed', async () => {
    const { config } = await project();
    const pipeline = config.pipelines.conf;
    if (!pipeline) throw new Error('the test config has no conf pipeline');
    pipeline.source.options.paths = ['missing.conf'];
    const log = recordingLog();
    const services = createServices({ searchPaths: [import.meta.dirname], log });
    const run = await runPipeline(pipeline, services);
    expect(run.exitCode).toBe(2);
    expect(run.backup.error?.message).toMatch(/"missing.conf" does not exist/);
    expect(run.backup.record).toMatchObject({ status: 'failure', pipeline: 'conf' });
    expect(run.retention).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  it('an explicit maximum age overrides the config, and a pipeline without one is a usage error', async () => {
    const { config } = await project();
    const pipeline = config.pipelines.conf;
    if (!pipeline) throw new Error('the test config has no conf pipeline');
    const services = createServices({ searchPaths: [import.meta.dirname] });
    await runPipeline(pipeline, services);
    const [repository] = pipelineRepositories(pipeline);
    if (!repository) throw new Error('the pipeline names no repository');
    const later = createServices({
      searchPaths: [import.meta.dirname],
      now: () => new Date(Date.now() + 2 * HOUR),
    });
    expect((await checkBackups({ repository, config, maxAgeMs: 3 * HOUR }, later)).ok).toBe(true);
    await expect(checkBackups({ repository }, services)).rejects.toMatchObject({
      code: 'USAGE',
      message: 'no maximum age for pipeline conf',
    });
  });

  it('a check of your own runs on the report after freshness and can fail it', async () => {
    const { config } = await project();
    const pipeline = config.pipelines.conf;
    if (!pipeline) throw new Error('the test config has no conf pipeline');
    const services = createServices({ searchPaths: [import.meta.dirname] });
    await runPipeline(pipeline, services);
    const [repository] = pipelineRepositories(pipeline);
    if (!repository) throw new Error('the pipeline names no repository');
    const report = await checkBackups(
      {
        repository,
        config,
        checks: [
          async (found) => {
            // e.g. a rule of your own: at least two backups of every pipeline.
            for (const result of found.pipelines) {
              const problem = {
                pipeline: result.pipeline,
                kind: 'missing' as const,
                message: `${result.pipeline}: only one backup`,
              };
              result.problems.push(problem);
              result.ok = false;
              found.problems.push(problem);
            }
            found.ok = false;
          },
        ],
      },
      services,
    );
    expect(report.ok).toBe(false);
    expect(report.problems.map((problem) => problem.message)).toEqual(['conf: only one backup']);
  });
});
