import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import {
  type BackupPlan,
  type Destination,
  defineSource,
  mirrorRepository,
  type NexusError,
  pruneRepository,
  Repository,
  runBackup,
  type Source,
  verifyBackup,
} from '@nexus-backup/core';
import { collectStream, createTestContext, MiB, pausingStream, randomStream } from '@nexus-backup/testkit';
import { generateKeyPair, type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshot, writeBackup } from './mirror-fixtures.js';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

let server: SshdHandle;
let scratch: string;
const ctx = createTestContext();

beforeAll(async () => {
  server = await startSshd();
  scratch = await mkdtemp(join(tmpdir(), 'nexus-ssh-transport-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** The OpenSSH SFTP server binary (openssh-sftp-server), wherever the distribution puts it. */
const SFTP_SERVER =
  ['/usr/lib/openssh/sftp-server', '/usr/libexec/openssh/sftp-server', '/usr/libexec/sftp-server'].find(
    (path) => existsSync(path),
  ) ?? 'sftp-server not found: apt-get install -y openssh-sftp-server';

/** A destination on this server through the system ssh client. */
function sshUrl(path: string, query: Record<string, string> = {}): URL {
  return repositoryUrl(server, path, { transport: 'ssh', ...query });
}

async function keysIn(destination: Destination, prefix = ''): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of destination.list(prefix, ctx)) keys.push(object.key);
  return keys;
}

/**
 * Drops our SSH connections the way a broken link would: SIGKILL to the ssh masters this process
 * started. (Not `server.killSessions()`: that would also kill a login shell half-way through its
 * start-up files, which can leave their locks behind, e.g. pyenv's rehash lock, for every later login.)
 */
async function killOurSshConnections(): Promise<number> {
  let killed = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0');
      if (ppid === process.pid && argv[0] === 'ssh' && argv.includes('-M')) {
        process.kill(Number(entry), 'SIGKILL');
        killed++;
      }
    } catch {
      // the process ended while we looked
    }
  }
  return killed;
}

async function putFails(url: URL): Promise<NexusError> {
  const destination = await destinationFor(url);
  try {
    await destination.put('probe.txt', Readable.from([Buffer.from('x')]), ctx);
  } catch (error) {
    return error as NexusError;
  } finally {
    await destination.close?.();
  }
  throw new Error('put succeeded although it should have been refused');
}

describe('transport=ssh objects', () => {
  it('round-trips small and large objects whose folder and key need quoting for the remote shell, byte-exact', async () => {
    const folder = freshPath(server, `it's a "repo" $HOME`);
    const destination = await destinationFor(sshUrl(folder));
    try {
      // quotes, spaces, $(...), backquotes and ; must reach the server as plain characters
      const key = `db/it's "quoted" $(touch pwned) \`id\`; x.bin`;
      const large = randomStream(3 * MiB + 5);
      expect(await destination.put(key, large.stream, ctx)).toEqual({ bytes: 3 * MiB + 5 });
      expect(
        await destination.put('db/small $USER.json', Readable.from([Buffer.from('{"a":1}')]), ctx),
      ).toEqual({ bytes: 7 });

      const hash = createHash('sha256').update(await collectStream(await destination.get(key, ctx)));
      expect(hash.digest('hex')).toBe(large.sha256());
      expect((await collectStream(await destination.get('db/small $USER.json', ctx))).toString()).toBe(
        '{"a":1}',
      );
      expect(await keysIn(destination)).toEqual([
        'db/it\'s "quoted" $(touch pwned) `id`; x.bin',
        'db/small $USER.json',
      ]);
      // the names are on the server's disk as given (loopback: the server's folder is ours too)
      expect((await readdir(join(folder, 'db'))).sort()).toEqual([
        `it's "quoted" $(touch pwned) \`id\`; x.bin`,
        'small $USER.json',
      ]);
      expect(await readdir(server.root)).not.toContain('pwned');

      await destination.delete([key, 'db/small $USER.json'], ctx);
      expect(await keysIn(destination)).toEqual([]);
      expect(await readdir(folder)).toEqual([]); // the emptied db/ folder is gone too
    } finally {
      await destination.close?.();
    }
  });

  it('lists, reads and deletes in a repository folder that is a symlink, as the sftp transport does', async () => {
    const real = freshPath(server, 'real');
    const link = freshPath(server, 'link');
    await mkdir(real);
    await symlink(real, link);
    const destination = await destinationFor(sshUrl(link));
    try {
      await destination.put('db/a.bin', randomStream(300 * 1024).stream, ctx);
      expect(await keysIn(destination)).toEqual(['db/a.bin']);
      expect(await keysIn(destination, 'db/a')).toEqual(['db/a.bin']);
      expect(await readdir(join(real, 'db'))).toEqual(['a.bin']);
      await destination.delete(['db/a.bin'], ctx);
      expect(await keysIn(destination)).toEqual([]);
    } finally {
      await destination.close?.();
    }
  });

  it('leaves nothing listed when the connection dies mid-upload, and cleanup finds the temp file', async () => {
    const destination = await destinationFor(sshUrl(freshPath(server, 'killed')));
    try {
      const stalled = pausingStream(8 * MiB, 3 * MiB);
      const put = destination.put('db/big.bin', stalled.stream, ctx);
      put.catch(() => {});
      await stalled.paused;
      expect(await killOurSshConnections()).toBeGreaterThan(0);
      stalled.resume();
      await expect(put).rejects.toMatchObject({ name: 'NexusError', code: 'CONNECTION' });

      expect(await keysIn(destination)).toEqual([]); // the next operation reconnects
      const stale = await destination.cleanup?.(new Date(Date.now() + 60_000), ctx, true);
      expect(stale).toEqual([expect.stringMatching(/^db\/\.big\.bin\.nexus-tmp-[0-9a-f]{12}$/)]);
    } finally {
      await destination.close?.();
    }
  });

  it('leaves nothing listed when the process uploading is killed with SIGKILL', async () => {
    const folder = freshPath(server, 'sigkill');
    // a process that puts an endless stream and says when 4 MiB have gone out
    const script = `
      import { Readable } from 'node:stream';
      import { resolveOptions } from '@nexus-backup/core';
      import { sftp } from '@nexus-backup/rsync';
      import { createTestContext } from '@nexus-backup/testkit';
      const url = new URL(process.argv[1]);
      const destination = await sftp.create(resolveOptions(sftp.options, { path: 'test', provider: 'sftp', values: { ...sftp.fromUrl(url) } }));
      let sent = 0;
      const block = Buffer.alloc(256 * 1024, 7);
      const body = new Readable({ read() { sent += block.length; if (sent === 4 * 1024 * 1024) console.log('sending'); this.push(block); } });
      await destination.put('db/endless.bin', body, createTestContext());
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, sshUrl(folder).href], {
      cwd: join(import.meta.dirname, '..'),
      env: { ...process.env, TMPDIR: scratch }, // its ssh control folder is left behind by the kill
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child.stdout.on('data', (text: Buffer) => text.toString().includes('sending') && resolve());
      child.once('exit', (code) => reject(new Error(`the uploader exited early (${code})`)));
    });
    child.kill('SIGKILL');
    await exited;

    const destination = await destinationFor(sshUrl(folder));
    try {
      expect(await keysIn(destination)).toEqual([]);
      // the part that arrived stays under a temp name only
      expect(
        (await readdir(join(folder, 'db'))).every((name) => name.startsWith('.endless.bin.nexus-tmp-')),
      ).toBe(true);
    } finally {
      await destination.close?.();
    }
  });
});

describe('transport=ssh host keys and accounts', () => {
  it('refuses a changed host key with the presented fingerprint and the ssh-keygen -R fix, as the sftp transport does', async () => {
    const impostor = await generateKeyPair(scratch, 'impostor');
    const knownHosts = join(scratch, 'known_hosts_changed');
    const [type, key] = impostor.publicKey.split(' ');
    await writeFile(knownHosts, `[127.0.0.1]:${server.port} ${type} ${key}\n`);
    const error = await putFails(sshUrl(freshPath(server, 'changed'), { knownHosts }));
    expect(error).toMatchObject({ name: 'NexusError', code: 'CONNECTION' });
    expect(error.message).toContain('HAS CHANGED');
    expect(error.message).toContain(server.hostKeyFingerprint);
    expect(error.hint).toContain(`ssh-keygen -R "[127.0.0.1]:${server.port}"`);
  });

  it('refuses an unknown host and names both ways to trust it', async () => {
    const knownHosts = join(scratch, 'known_hosts_empty');
    await writeFile(knownHosts, '# nothing trusted yet\n');
    const error = await putFails(sshUrl(freshPath(server, 'unknown'), { knownHosts }));
    expect(error).toMatchObject({ code: 'CONNECTION' });
    expect(error.message).toContain('is not in');
    expect(error.hint).toContain(`fingerprint=${server.hostKeyFingerprint}`);
  });

  it('accepts a pinned fingerprint without any known_hosts file, and refuses a wrong one', async () => {
    const missing = join(scratch, 'no-such-known-hosts');
    const pinned = await destinationFor(
      sshUrl(freshPath(server, 'pinned'), { knownHosts: missing, fingerprint: server.hostKeyFingerprint }),
    );
    try {
      expect(await pinned.put('ok.txt', Readable.from([Buffer.from('ok')]), ctx)).toEqual({ bytes: 2 });
    } finally {
      await pinned.close?.();
    }
    const wrong = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
    const error = await putFails(
      sshUrl(freshPath(server, 'pinned'), { knownHosts: missing, fingerprint: wrong }),
    );
    expect(error.message).toContain('does not match the pinned fingerprint');
    expect(error.message).toContain(server.hostKeyFingerprint);
  });

  it.each([
    ['only SFTP (ForceCommand internal-sftp)', 'internal-sftp', 'allows sftp connections only'],
    ['only an SFTP server binary (ForceCommand sftp-server)', SFTP_SERVER, 'runs only SFTP'],
    ['a shell that refuses logins (nologin)', '/usr/sbin/nologin', 'not available'],
  ])('names transport=ssh and the way back when the account runs %s', async (_kind, command, reason) => {
    const restricted = await generateKeyPair(scratch, `restricted-${command.replace(/\W/g, '')}`);
    await server.authorize(`command="${command}" ${restricted.publicKey}`);
    const error = await putFails(
      sshUrl(freshPath(server, 'noshell'), { identity: restricted.privateKeyFile }),
    );
    expect(error).toMatchObject({ name: 'NexusError', code: 'USAGE' });
    expect(error.message).toContain('?transport=ssh needs a login shell');
    expect(error.message).toContain(reason);
    expect(error.hint).toContain('transport=sftp');
  });

  it('reports a key the server does not accept as a refused login naming the user and key', async () => {
    const stranger = await generateKeyPair(scratch, 'stranger');
    const error = await putFails(sshUrl(freshPath(server, 'login'), { identity: stranger.privateKeyFile }));
    expect(error).toMatchObject({ code: 'CONNECTION' });
    expect(error.message).toContain(`refused login as "${server.user}"`);
    expect(error.message).toContain(stranger.privateKeyFile);
  });

  it('retries a refused connection as often as retries= says, then names host and port', async () => {
    const url = sshUrl(freshPath(server, 'closed'), { retries: '1' });
    url.port = '1';
    const lines: string[] = [];
    const destination = await destinationFor(url);
    const error = await destination
      .put('x', Readable.from([Buffer.from('x')]), createTestContext({ lines }))
      .then(
        () => undefined,
        (failure: NexusError) => failure,
      );
    await destination.close?.();
    expect(error).toMatchObject({
      code: 'CONNECTION',
      message: expect.stringContaining('127.0.0.1:1 refused the connection'),
    });
    expect(lines.filter((line) => line.includes('retrying'))).toHaveLength(1);
  });

  it('refuses key passphrases and passwords, which ssh could only take from a prompt', async () => {
    process.env.NEXUS_TEST_SSH_PASSPHRASE = 'secret';
    try {
      await expect(
        destinationFor(
          sshUrl(freshPath(server, 'phrase'), { identityPassphraseEnv: 'NEXUS_TEST_SSH_PASSPHRASE' }),
        ),
      ).rejects.toMatchObject({ code: 'USAGE', hint: expect.stringContaining('ssh-agent') });
    } finally {
      delete process.env.NEXUS_TEST_SSH_PASSPHRASE;
    }
  });
});

/** A source of one generated artifact. */
function planFor(repository: Repository, bytes: number): BackupPlan {
  const source: Source = {
    describe: async () => ({ kind: 'generated' }),
    async *backup() {
      yield { name: 'data.bin', stream: randomStream(bytes).stream };
    },
    async restore() {
      return { lines: [] };
    },
  };
  const definition = defineSource({
    name: 'generated',
    description: 'test data',
    options: {},
    restoreOptions: {},
    create: () => source,
  });
  return {
    pipeline: 'e2e',
    source: { definition, version: '0.0.0', source, options: {} },
    transforms: [],
    targets: [{ repository, optional: false }],
  };
}

describe('transport=ssh repositories', () => {
  it('backs up, verifies, finds a changed byte, and prunes to the newest backup', async () => {
    const folder = freshPath(server, 'repo');
    const destination = await destinationFor(sshUrl(folder));
    const repository = new Repository(destination);
    try {
      const first = await runBackup(planFor(repository, 2 * MiB), ctx);
      const second = await runBackup(planFor(repository, 1 * MiB + 3), ctx);
      const scan = await repository.scan(ctx);
      expect(scan.backups.map((backup) => backup.id).sort()).toEqual(
        [first.manifest.id, second.manifest.id].sort(),
      );
      for (const backup of scan.backups) expect((await verifyBackup(repository, backup, ctx)).ok).toBe(true);

      const older = scan.backups.find((backup) => backup.id === first.manifest.id);
      const artifact = join(folder, 'e2e', first.manifest.id, 'data.bin');
      const bytes = await readFile(artifact);
      bytes[100] = (bytes[100] ?? 0) ^ 1;
      await writeFile(artifact, bytes);
      expect((await verifyBackup(repository, older as NonNullable<typeof older>, ctx)).ok).toBe(false);

      await pruneRepository(repository, { keepLast: 1 }, ctx, { graceMs: 0, dryRun: false });
      expect((await repository.scan(ctx)).backups.map((backup) => backup.id)).toEqual([second.manifest.id]);
      expect(await readdir(join(folder, 'e2e'))).not.toContain(first.manifest.id); // its folder went too
      expect(await keysIn(destination, 'e2e/.leases')).toEqual([]); // and prune's lease
    } finally {
      await destination.close?.();
    }
  });

  it.each(['stream', 'rsync'] as const)(
    'mirrors into a transport=ssh target (via %s), byte-exact',
    async (via) => {
      const sourceDir = freshPath(server, 'local');
      const source = await destinationFor(sshUrl(sourceDir));
      const target = await destinationFor(sshUrl(freshPath(server, 'remote')));
      try {
        await writeBackup(source, ctx, 'database/20261124T020000Z-aaaaaa');
        await writeBackup(source, ctx, 'credentials/20261125T030000Z-cccccc');
        const report = await mirrorRepository({
          source,
          target,
          ctx,
          ...(via === 'rsync' ? { via, sourceDir } : {}),
        });
        expect(report.copied).toHaveLength(2);
        expect(await snapshot(target, ctx)).toEqual(await snapshot(source, ctx));
        await source.delete(await keysIn(source, 'database/'), ctx);
        const pruned = await mirrorRepository({
          source,
          target,
          ctx,
          delete: true,
          ...(via === 'rsync' ? { via, sourceDir } : {}),
        });
        expect(pruned.deleted).toEqual(['database/20261124T020000Z-aaaaaa']);
        expect(await snapshot(target, ctx)).toEqual(await snapshot(source, ctx));
      } finally {
        await source.close?.();
        await target.close?.();
      }
    },
  );
});
