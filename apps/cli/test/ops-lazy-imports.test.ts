import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/nexus-backup.js');

/** Runs the CLI with a resolve hook that reports which of croner, pg and the operations layer were loaded. */
async function loadedOptionalModules(args: string[], cwd: string): Promise<string[]> {
  const hook = join(cwd, 'record-loads.mjs');
  await writeFile(
    hook,
    `import { registerHooks } from 'node:module';
const seen = new Set();
registerHooks({
  resolve(specifier, context, next) {
    if (['croner', 'pg', '@nexus-backup/ops'].includes(specifier)) seen.add(specifier);
    return next(specifier, context);
  },
});
process.on('exit', () => process.stderr.write('LOADED:' + [...seen].sort().join(',') + '\\n'));
`,
  );
  const stderr = await new Promise<string>((done, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(hook).href, BIN, ...args], {
      cwd,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let text = '';
    child.stderr.on('data', (chunk: Buffer) => {
      text += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', () => done(text));
  });
  const line = stderr.split('\n').find((candidate) => candidate.startsWith('LOADED:'));
  if (line === undefined) throw new Error(`no LOADED line in:\n${stderr}`);
  return line.slice('LOADED:'.length).split(',').filter(Boolean);
}

describe('operations dependencies load lazily', () => {
  it('`--help`, `check --help` and `wal push --help` load neither croner nor pg nor the operations layer; schedule and history load theirs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'nexus-lazy-'));
    expect(await loadedOptionalModules(['--help'], dir)).toEqual([]);
    expect(await loadedOptionalModules(['check', '--help'], dir)).toEqual([]);
    expect(await loadedOptionalModules(['wal', 'push', '--help'], dir)).toEqual([]);

    // Controls: the hook does see the modules when a command needs them.
    await writeFile(
      join(dir, 'schedule.yaml'),
      'pipelines:\n  p:\n    source: { use: files, paths: [x] }\n    to: [./repo]\n    schedule: "not cron"\n',
    );
    // A schedule that is not cron fails while the config is read, before any run needs the operations layer.
    expect(await loadedOptionalModules(['schedule', '--config', 'schedule.yaml'], dir)).toEqual(['croner']);
    await writeFile(join(dir, 'history.yaml'), 'history: { db: "postgresql://nobody@127.0.0.1:1/none" }\n');
    expect(await loadedOptionalModules(['history', '--config', 'history.yaml'], dir)).toEqual([
      '@nexus-backup/ops',
      'pg',
    ]);
    await rm(dir, { recursive: true, force: true });
  });
});
