import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

const PROGRAM = join(import.meta.dirname, '../dist/backup-and-check.js');
const CLI = join(import.meta.dirname, '../../../apps/cli/bin/nexus-backup.js');
const run = promisify(execFile);

/** Runs a node program; resolves with its exit code and output instead of rejecting on a non-zero exit. */
async function node(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, args, { cwd, encoding: 'utf8' });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
}

const CONFIG = `repositories:
  local: ./repo
pipelines:
  config:
    source: { use: files, paths: [ app.conf, settings ] }
    transforms: [ { use: gzip } ]
    to: [ local ]
    retention: { keepLast: 1 }
    check: { maxAge: 1h }
  lost:
    source: { use: files, paths: [ not-there ] }
    to: [ local ]
    check: { maxAge: 1h }
`;

const folders: string[] = [];
afterEach(async () => {
  await Promise.all(folders.splice(0).map((folder) => rm(folder, { recursive: true, force: true })));
});

async function service(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-embedding-'));
  folders.push(dir);
  await writeFile(join(dir, 'app.conf'), 'listen = 8080\n');
  await mkdir(join(dir, 'settings'));
  await writeFile(join(dir, 'settings', 'feature.json'), '{"beta":true}\n');
  await writeFile(join(dir, 'nexus-backup.yaml'), CONFIG);
  return dir;
}

describe('the embedding example runs a pipeline and a check without the CLI', () => {
  it('backs up, applies the retention and finds the repository fresh; the CLI restores what it stored', async () => {
    const dir = await service();
    // Run from elsewhere: the program resolves the config's paths against the config file.
    const first = await node([PROGRAM, join(dir, 'nexus-backup.yaml'), 'config'], tmpdir());
    expect(first).toMatchObject({ code: 0 });
    expect(first.stdout).toMatch(/^config: backup \S+\nlocal: fresh\n$/);
    const second = await node([PROGRAM, join(dir, 'nexus-backup.yaml'), 'config'], tmpdir());
    expect(second.code).toBe(0);
    const newest = /^config: backup (\S+)/.exec(second.stdout)?.[1];

    // Independently of the program: the CLI sees one backup (keepLast: 1), the newest one, intact.
    const listed = await node([CLI, 'list', '--from', join(dir, 'repo'), '--json'], dir);
    expect(listed.code).toBe(0);
    const backups = JSON.parse(listed.stdout).backups as { id: string; pipeline: string }[];
    expect(backups.map((backup) => `${backup.pipeline}@${backup.id}`)).toEqual([`config@${newest}`]);
    const restored = await node(
      [CLI, 'restore', 'config@latest', '--from', join(dir, 'repo'), '--to-dir', join(dir, 'out')],
      dir,
    );
    expect(restored.code).toBe(0);
    expect(await readFile(join(dir, 'out', 'app.conf'), 'utf8')).toBe('listen = 8080\n');
    expect(await readFile(join(dir, 'out', 'settings', 'feature.json'), 'utf8')).toBe('{"beta":true}\n');
  });

  it('a pipeline that fails reports the error and a check that finds no backup, exit 2', async () => {
    const dir = await service();
    const result = await node([PROGRAM, join(dir, 'nexus-backup.yaml'), 'lost'], dir);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/^lost: backup failed: .*not-there/m);
    expect(result.stdout).toMatch(/^local: lost: missing: no complete backup in local$/m);
  });

  it('is the program the README quotes, word for word', async () => {
    const program = await readFile(join(import.meta.dirname, '../src/backup-and-check.ts'), 'utf8');
    const readme = await readFile(join(import.meta.dirname, '../../../README.md'), 'utf8');
    expect(readme).toContain(`\`\`\`ts\n${program}\`\`\``);
  });
});
