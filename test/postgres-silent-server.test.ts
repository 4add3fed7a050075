import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

/** Takes TCP connections and never says a word: a hung server, or a port that is not PostgreSQL's. */
let silent: Server;
const sockets: Socket[] = [];
const dirs: string[] = [];
let port = 0;

async function repository(prefix: string): Promise<string> {
  const dir = await tempDir(prefix);
  dirs.push(dir);
  return dir;
}

beforeAll(async () => {
  silent = createServer((socket) => {
    sockets.push(socket);
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  port = (silent.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('a PostgreSQL server that takes the connection and never answers', () => {
  it('fails the backup after PGCONNECT_TIMEOUT seconds with a connection error naming the server, not a hang', async () => {
    const repo = await repository('silent-server');
    const started = Date.now();
    const run = await runCli(['backup', 'postgres', '--to', repo, '--pipeline', 'db'], {
      env: { DATABASE_URL: `postgresql://app@127.0.0.1:${port}/proxy`, PGCONNECT_TIMEOUT: '2' },
    });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`PostgreSQL at 127.0.0.1:${port}`);
    expect(run.stderr).toContain('did not answer within 2 s');
    expect(run.stderr).toMatch(/PGCONNECT_TIMEOUT/);
    // Bounded by the timeout, not by the test runner: the run gave up on its own.
    expect(Date.now() - started).toBeLessThan(60_000);
    expect((await runCli(['list', 'db', '--from', repo])).stdout).not.toMatch(/db@/);
  });

  it('refuses a PGCONNECT_TIMEOUT that is not a whole number of seconds, naming it', async () => {
    const repo = await repository('silent-server-usage');
    const run = await runCli(['backup', 'postgres', '--to', repo, '--pipeline', 'db'], {
      env: { DATABASE_URL: `postgresql://app@127.0.0.1:${port}/proxy`, PGCONNECT_TIMEOUT: '2s' },
    });
    expect(run.code).toBe(64);
    expect(run.stderr).toContain('PGCONNECT_TIMEOUT must be a whole number of seconds, got "2s"');
  });
});
