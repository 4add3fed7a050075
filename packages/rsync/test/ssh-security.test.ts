import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import type { NexusError } from '@nexus-backup/core';
import { createTestContext } from '@nexus-backup/testkit';
import { generateKeyPair, type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

const run = promisify(execFile);
let server: SshdHandle;
let scratch: string;
const ctx = createTestContext();

beforeAll(async () => {
  server = await startSshd();
  scratch = await mkdtemp(join(tmpdir(), 'nexus-ssh-security-'));
});
afterAll(async () => {
  await server?.stop();
  await rm(scratch, { recursive: true, force: true });
});

async function putFails(query: Record<string, string>, url?: URL): Promise<NexusError> {
  const destination = await destinationFor(url ?? repositoryUrl(server, freshPath(server, 'sec'), query));
  try {
    await destination.put('probe.txt', Readable.from([Buffer.from('x')]), ctx);
  } catch (error) {
    return error as NexusError;
  } finally {
    await destination.close?.();
  }
  throw new Error('put succeeded although it should have been refused');
}

describe('host key verification', () => {
  it('refuses a changed host key, showing the presented fingerprint and how to fix known_hosts', async () => {
    const impostor = await generateKeyPair(scratch, 'impostor');
    const knownHosts = join(scratch, 'known_hosts_changed');
    const [type, key] = impostor.publicKey.split(' ');
    await writeFile(knownHosts, `[127.0.0.1]:${server.port} ${type} ${key}\n`);
    const error = await putFails({ knownHosts });
    expect(error).toMatchObject({ name: 'NexusError', code: 'CONNECTION' });
    expect(error.message).toContain('HAS CHANGED');
    expect(error.message).toContain(server.hostKeyFingerprint);
    expect(error.hint).toContain(`ssh-keygen -R "[127.0.0.1]:${server.port}"`);
  });

  it('refuses an unknown host and says how to trust it (ssh-keyscan or fingerprint=)', async () => {
    const knownHosts = join(scratch, 'known_hosts_empty');
    await writeFile(knownHosts, '# nothing trusted yet\n');
    const error = await putFails({ knownHosts });
    expect(error).toMatchObject({ code: 'CONNECTION' });
    expect(error.message).toContain('is not in');
    expect(error.message).toContain(server.hostKeyFingerprint);
    expect(error.hint).toContain(`ssh-keyscan -p ${server.port} 127.0.0.1`);
    expect(error.hint).toContain(`fingerprint=${server.hostKeyFingerprint}`);
  });

  it('refuses a host whose only entry is for port 22, since [host]:port is a different name', async () => {
    const knownHosts = join(scratch, 'known_hosts_port22');
    const line = (await readFile(server.knownHostsFile, 'utf8')).replace(
      `[127.0.0.1]:${server.port}`,
      '127.0.0.1',
    );
    await writeFile(knownHosts, line);
    expect((await putFails({ knownHosts })).message).toContain('is not in');
  });

  it('accepts the host through a hashed known_hosts entry made by ssh-keygen -H', async () => {
    const knownHosts = join(scratch, 'known_hosts_hashed');
    await writeFile(knownHosts, await readFile(server.knownHostsFile, 'utf8'));
    await run('ssh-keygen', ['-H', '-f', knownHosts]);
    expect(await readFile(knownHosts, 'utf8')).toMatch(/^\|1\|/);
    const destination = await destinationFor(
      repositoryUrl(server, freshPath(server, 'hashed'), { knownHosts }),
    );
    expect(await destination.put('ok.txt', Readable.from([Buffer.from('ok')]), ctx)).toEqual({ bytes: 2 });
    await destination.close?.();
  });

  it('accepts a pinned fingerprint instead of known_hosts, and refuses a wrong one', async () => {
    const missing = join(scratch, 'no-such-known-hosts');
    const pinned = await destinationFor(
      repositoryUrl(server, freshPath(server, 'pinned'), {
        knownHosts: missing,
        fingerprint: server.hostKeyFingerprint,
      }),
    );
    expect(await pinned.put('ok.txt', Readable.from([Buffer.from('ok')]), ctx)).toEqual({ bytes: 2 });
    await pinned.close?.();

    const wrong = `SHA256:${Buffer.alloc(32, 7).toString('base64').replace(/=+$/, '')}`;
    const error = await putFails({ knownHosts: missing, fingerprint: wrong });
    expect(error.message).toContain('does not match the pinned fingerprint');
    expect(error.message).toContain(server.hostKeyFingerprint);
  });
});

describe('login failures', () => {
  it('reports a key the server does not accept as a refused login naming the user and key', async () => {
    const stranger = await generateKeyPair(scratch, 'stranger');
    const error = await putFails({ identity: stranger.privateKeyFile });
    expect(error).toMatchObject({ code: 'CONNECTION' });
    expect(error.message).toContain(`refused login as "${server.user}"`);
    expect(error.message).toContain(stranger.privateKeyFile);
    expect(error.hint).toContain('authorized_keys');
  });

  it('reports an unknown user as a refused login naming that user', async () => {
    const url = repositoryUrl(server, freshPath(server, 'user'));
    url.username = 'no-such-user';
    const error = await putFails({}, url);
    expect(error).toMatchObject({ code: 'CONNECTION' });
    expect(error.message).toContain('refused login as "no-such-user"');
  });

  it('asks for the passphrase of an encrypted key, and logs in with it from an environment variable', async () => {
    const locked = await generateKeyPair(scratch, 'locked', { passphrase: 'correct horse' });
    await server.authorize(locked.publicKey);
    const missing = await putFails({ identity: locked.privateKeyFile });
    expect(missing.hint).toContain('identityPassphraseEnv');

    process.env.NEXUS_TEST_KEY_PASSPHRASE = 'correct horse';
    try {
      const url = repositoryUrl(server, freshPath(server, 'locked'), {
        identity: locked.privateKeyFile,
        identityPassphraseEnv: 'NEXUS_TEST_KEY_PASSPHRASE',
      });
      const destination = await destinationFor(url);
      expect(await destination.put('ok.txt', Readable.from([Buffer.from('ok')]), ctx)).toEqual({ bytes: 2 });
      await destination.close?.();
    } finally {
      delete process.env.NEXUS_TEST_KEY_PASSPHRASE;
    }
  });

  it('logs in through ssh-agent with agent=true and no key file', async () => {
    const socket = join(scratch, 'agent.sock');
    const agent = await run('ssh-agent', ['-a', socket, '-s']);
    const agentPid = /SSH_AGENT_PID=(\d+)/.exec(agent.stdout)?.[1];
    const saved = process.env.SSH_AUTH_SOCK;
    try {
      await run('ssh-add', [server.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: socket } });
      process.env.SSH_AUTH_SOCK = socket;
      const url = repositoryUrl(server, freshPath(server, 'agent'), { agent: 'true' });
      url.searchParams.delete('identity');
      const destination = await destinationFor(url);
      expect(await destination.put('ok.txt', Readable.from([Buffer.from('ok')]), ctx)).toEqual({ bytes: 2 });
      await destination.close?.();
    } finally {
      if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
      else process.env.SSH_AUTH_SOCK = saved;
      if (agentPid) process.kill(Number(agentPid));
    }
  });

  it('reports a closed port as a refused connection after its retries', async () => {
    const url = repositoryUrl(server, freshPath(server, 'closed'), { retries: '1' });
    url.port = '1';
    const lines: string[] = [];
    const destination = await destinationFor(url);
    const error = await destination
      .put('x', Readable.from([Buffer.from('x')]), createTestContext({ lines }))
      .then(
        () => undefined,
        (failure: NexusError) => failure,
      );
    expect(error).toMatchObject({ code: 'CONNECTION' });
    expect(error?.message).toContain('127.0.0.1:1 refused the connection');
    expect(lines.filter((line) => line.includes('retrying'))).toHaveLength(1);
  });
});
