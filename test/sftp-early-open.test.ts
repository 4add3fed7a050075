import { spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI_BIN, runCli } from './helpers/cli.js';

const SLOW_SOURCE = join(import.meta.dirname, 'fixtures/slow-source.mjs');

/** Every file under a directory, relative, including temp files a writer left. */
async function allFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name).slice(root.length + 1));
}

/** A slow two-artifact backup (test/fixtures/slow-source.mjs) into `repo`, running in the background. */
function slowBackup(repo: string) {
  const child = spawn(
    process.execPath,
    [CLI_BIN, '--plugin', SLOW_SOURCE, 'backup', 'slow', '--to', repo, '--pipeline', 'slow', '--no-gzip'],
    { env: { ...process.env, SLOW_SOURCE_CHUNKS: '60', SLOW_SOURCE_DELAY_MS: '25' }, stdio: 'ignore' },
  );
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited };
}

/** The first artifact stored under its name, the second still streaming into its temp file. */
const secondStreaming = (files: string[]) =>
  files.some((file) => file.endsWith('/first.bin')) &&
  files.some((file) => /\.second\.bin\.nexus-tmp-/.test(file));

/** Waits (polling the server's folder) until `ready` sees the files it waits for. */
async function waitForFiles(folder: string, ready: (files: string[]) => boolean): Promise<string[]> {
  for (;;) {
    const files = await allFiles(folder);
    if (ready(files)) return files;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

// The CLI opens an sftp repository named by --to/--from while it still loads its commands, so the SSH
// handshake and login overlap its start; the command's own destination takes that connection over.
describe('an sftp repository opened while the CLI loads', () => {
  let sshd: SshdHandle;
  let work: string;
  const logins = () => sshd.log().match(/Accepted publickey/g)?.length ?? 0;
  const repository = (name: string, transport: string) =>
    `sftp://${sshd.user}@${sshd.host}:${sshd.port}${join(sshd.root, name)}?identity=${sshd.identityFile}&knownHosts=${sshd.knownHostsFile}&transport=${transport}`;

  beforeAll(async () => {
    sshd = await startSshd();
    work = await mkdtemp(join(tmpdir(), 'nexus-e2e-early-open-'));
    await writeFile(join(work, 'notes.txt'), 'hello\n');
  });
  afterAll(async () => {
    await sshd?.stop();
    await rm(work, { recursive: true, force: true });
  });

  for (const transport of ['sftp', 'ssh']) {
    it(`transport=${transport}: a backup, its list and its restore each log in once`, async () => {
      const remote = repository(`once-${transport}`, transport);
      const before = logins();
      const backup = await runCli(['backup', 'files', 'notes.txt', '--to', remote, '--pipeline', 'notes'], {
        cwd: work,
      });
      expect(backup.stderr).toContain('backup notes@');
      expect(backup.code).toBe(0);
      expect(logins() - before).toBe(1);

      const listed = await runCli(['list', '--from', remote, '--json']);
      expect(JSON.parse(listed.stdout).backups).toHaveLength(1);
      const out = join(work, `restored-${transport}`);
      expect((await runCli(['restore', 'notes@latest', '--from', remote, '--to-dir', out])).code).toBe(0);
      expect(await readdir(out)).toEqual(['notes.txt']);
      expect(logins() - before).toBe(3);
    });
  }

  for (const transport of ['sftp', 'ssh']) {
    it(`transport=${transport}: a backup killed with SIGKILL while it uploads leaves nothing listed, and prune removes its leftover and lease`, async () => {
      const folder = join(sshd.root, `killed-${transport}`);
      const remote = repository(`killed-${transport}`, transport);
      const backup = slowBackup(remote);
      const seen = await waitForFiles(folder, secondStreaming);
      backup.child.kill('SIGKILL');
      await backup.exited;
      expect(seen.some((file) => file.endsWith('manifest.json'))).toBe(false);

      const listed = JSON.parse((await runCli(['list', '--from', remote, '--json'])).stdout);
      expect(listed.backups).toEqual([]);
      expect(listed.incomplete).toHaveLength(1);
      const pruned = await runCli(['prune', '--from', remote, '--keep-last', '1', '--json']);
      expect(pruned.code).toBe(0);
      expect(JSON.parse(pruned.stdout).leftovers[0]).toMatchObject({ action: 'remove' });
      expect(JSON.parse(pruned.stdout).leftovers[0].reason).toMatch(/pid \d+ on this host is gone/);
      // only the killed upload's temp file may stay: list never shows it, cleanup removes it once stale
      expect((await allFiles(folder)).filter((file) => !/\.nexus-tmp-/.test(file))).toEqual([]);
    });

    it(`transport=${transport}: a prune racing a running backup keeps the folder being written, and the backup completes`, async () => {
      const folder = join(sshd.root, `racing-${transport}`);
      const remote = repository(`racing-${transport}`, transport);
      const backup = slowBackup(remote);
      await waitForFiles(folder, secondStreaming);
      const pruned = await runCli(['prune', '--from', remote, '--keep-last', '1', '--grace', '0', '--json']);
      expect(pruned.code).toBe(0);
      expect(JSON.parse(pruned.stdout).leftovers[0]).toMatchObject({ action: 'keep' });
      expect(await backup.exited).toBe(0);
      const listed = JSON.parse((await runCli(['list', '--from', remote, '--json'])).stdout);
      expect(listed.backups).toHaveLength(1);
      expect(listed.backups[0].pipeline).toBe('slow');
    });
  }

  it('a usage error found after the repository was opened exits 64 and leaves no temp folder behind', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'nexus-e2e-early-open-tmp-'));
    try {
      const refused = await runCli(
        ['backup', 'files', 'notes.txt', '--to', repository('usage', 'ssh'), '--no-such-flag'],
        { cwd: work, env: { TMPDIR: scratch } },
      );
      expect(refused.code).toBe(64);
      expect(refused.stderr).toContain('--no-such-flag');
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
