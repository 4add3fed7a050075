import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

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
