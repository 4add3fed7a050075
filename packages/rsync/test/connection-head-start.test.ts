import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createTestContext } from '@nexus-backup/testkit';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

let server: SshdHandle;
const ctx = createTestContext();

beforeAll(async () => {
  server = await startSshd();
});
afterAll(async () => {
  await server?.stop();
});

/** Logins the server accepted so far (one per SSH connection; sessions multiplexed on it log none). */
const logins = () => server.log().match(/Accepted publickey/g)?.length ?? 0;
/** Sockets, pipes and child processes this process holds open. */
const openHandles = () =>
  process.getActiveResourcesInfo().filter((kind) => /^(TCPSocketWrap|PipeWrap|ProcessWrap)$/.test(kind))
    .length;

/** The ssh processes this test process started (masters and their sessions). */
async function ourSshProcesses(): Promise<number> {
  let found = 0;
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const argv0 = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0')[0];
      if (ppid === process.pid && argv0 === 'ssh') found++;
    } catch {
      // the process ended while we looked
    }
  }
  return found;
}

describe.each<{ transport: string; query: Record<string, string> }>([
  { transport: 'sftp', query: {} },
  { transport: 'ssh', query: { transport: 'ssh' } },
])('transport=$transport: connecting starts when a destination is created', ({ query }) => {
  it('a second destination for the same repository takes over the connection the first one began: one login serves both', async () => {
    const url = repositoryUrl(server, freshPath(server, 'head-start'), query);
    const before = logins();
    // the CLI's early open: created, never used, closed when the command ends
    const early = await destinationFor(url);
    const used = await destinationFor(url);
    try {
      await used.put('a.json', Readable.from([Buffer.from('{}')]), ctx);
      await early.close?.(); // closing the unused one leaves the connection it began to its new owner
      await used.put('b.json', Readable.from([Buffer.from('{}')]), ctx);
      const keys: string[] = [];
      for await (const object of used.list('', ctx)) keys.push(object.key);
      expect(keys).toEqual(['a.json', 'b.json']);
    } finally {
      await early.close?.();
      await used.close?.();
    }
    expect(logins() - before).toBe(1);
  });

  it('a destination closed before its first operation ends the connection it began: no socket, ssh process or temp folder stays', async () => {
    const scratch = await mkdtemp(join(tmpdir(), 'nexus-head-start-'));
    const tmp = process.env.TMPDIR;
    process.env.TMPDIR = scratch; // where transport=ssh keeps its control socket
    try {
      const [loggedIn, handles] = [logins(), openHandles()];
      const destination = await destinationFor(repositoryUrl(server, freshPath(server, 'unused'), query));
      // logged in while nobody asked for anything yet
      await vi.waitFor(() => expect(logins()).toBe(loggedIn + 1), { timeout: 15_000, interval: 20 });
      await destination.close?.();
      // a pipe of an exited ssh may close a moment after its process ended
      await vi.waitFor(() => expect(openHandles()).toBe(handles), { timeout: 5_000, interval: 20 });
      expect(await ourSshProcesses()).toBe(0);
      expect(await readdir(scratch)).toEqual([]);
    } finally {
      if (tmp === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = tmp;
      await rm(scratch, { recursive: true, force: true });
    }
  });
});
