import { execFile } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runCli, tempDir } from './helpers/cli.js';

const run = promisify(execFile);

/**
 * A source file the backup user cannot read (a `.env` left 0600 by another user): the backup fails
 * naming the file, and nothing is listed. The CLI runs as an unprivileged user (`unshare --user`
 * drops root's override of file modes), since root reads every file.
 */

let work: string;

beforeAll(async () => {
  work = await tempDir('unreadable');
  await chmod(work, 0o777);
  for (const dir of ['src', 'cred', 'repo']) {
    await mkdir(join(work, dir));
    await chmod(join(work, dir), 0o777);
  }
  await writeFile(join(work, 'src', 'compose.yml'), 'services: {}\n', { mode: 0o644 });
  await writeFile(join(work, 'src', '.env'), 'TOKEN=x\n');
  await writeFile(join(work, 'cred', 'a.json'), '{}\n', { mode: 0o644 });
  await writeFile(join(work, 'cred', 'b.json'), '{}\n');
  // Mode 000: in the namespace we keep our uid, and an owner without permission bits cannot read.
  await chmod(join(work, 'src', '.env'), 0o000);
  await chmod(join(work, 'cred', 'b.json'), 0o000);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

async function runAsNobody(args: string[]): Promise<{ code: number; stderr: string }> {
  const result = await run('unshare', ['--user', process.execPath, CLI_BIN, ...args], {
    cwd: work,
    env: { ...process.env, NEXUS_BACKUP_PASSPHRASE: '' },
  }).then(
    ({ stderr }) => ({ code: 0, stderr }),
    (error: { code: number; stderr: string }) => ({ code: error.code, stderr: error.stderr }),
  );
  return result;
}

describe('a source file the backup cannot read', () => {
  it('files: exit 2 naming the file, nothing listed', async () => {
    const result = await runAsNobody(['backup', 'files', 'src/.env', 'src/compose.yml', '--to', 'repo']);
    expect(result.code, result.stderr).toBe(2);
    expect(result.stderr.trim()).toMatch(
      /^error: \[files\] could not read src\/\.env in .*: EACCES: permission denied/,
    );
    const listed = await runCli(['list', '--from', join(work, 'repo'), '--json']);
    expect(JSON.parse(listed.stdout).backups).toEqual([]);
  });

  it('credentials: exit 2 naming the file and what to do, nothing listed', async () => {
    const result = await runAsNobody([
      'backup',
      'credentials',
      '--dir',
      'cred',
      '--allow-plaintext',
      '--to',
      'repo',
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `error: [credentials] could not read credential file b.json in ${join(work, 'cred')}: EACCES: permission denied, open '${join(work, 'cred', 'b.json')}'; run the backup as a user who can read it, or leave it out with --pattern`,
    );
    const listed = await runCli(['list', '--from', join(work, 'repo'), '--json']);
    expect(JSON.parse(listed.stdout).backups).toEqual([]);
  });
});
