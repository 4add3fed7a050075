import { resolve } from 'node:path';
import { loadConfig } from '@nexus-backup/core';
import {
  checkBackups,
  createServices,
  hooksFromConfig,
  pipelineRepositories,
  runPipeline,
} from '@nexus-backup/ops';

// backup-and-check CONFIG PIPELINE: runs one pipeline of a nexus-backup.yaml (backup, notifications,
// history, retention), then checks every repository it writes to against the pipeline's `check:`.
const [file = 'nexus-backup.yaml', name = ''] = process.argv.slice(2);
const config = await loadConfig(resolve(file));
const pipeline = config.pipelines[name];
if (!pipeline) throw new Error(`no pipeline "${name}" in ${file}`);
process.chdir(config.baseDir); // relative paths in a config are relative to the file
const services = createServices({ searchPaths: [import.meta.dirname] }); // providers installed beside this program
try {
  const run = await runPipeline(pipeline, services, { hooks: hooksFromConfig(config) });
  console.log(`${name}: backup ${run.backup.record.backupId ?? `failed: ${run.backup.error?.message}`}`);
  let exitCode = run.exitCode;
  for (const repository of pipelineRepositories(pipeline)) {
    const report = await checkBackups({ repository, pipelines: [name], config }, services);
    for (const problem of report.problems) console.log(`${repository.label}: ${problem.message}`);
    if (report.ok) console.log(`${repository.label}: fresh`);
    else exitCode = Math.max(exitCode, 2);
  }
  process.exitCode = exitCode;
} finally {
  await services.closeAll();
}
