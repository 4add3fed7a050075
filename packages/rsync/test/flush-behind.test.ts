import { createTestContext, hashStream, MiB, randomStream } from '@nexus-backup/testkit';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, describe, expect, it } from 'vitest';
import { destinationFor, freshPath, repositoryUrl } from './sftp-test-setup.js';

// These servers run OpenSSH's sftp-server with request logging, so the tests read what the server
// was asked to do: which handles were opened, and when the file was fsynced.
const servers: SshdHandle[] = [];
const ctx = createTestContext();

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
});

async function loggingServer(maxSessions?: number): Promise<SshdHandle> {
  const server = await startSshd({ logSftpRequests: true, maxSessions });
  servers.push(server);
  return server;
}

/** Uploads `bytes` of random data, reads it back, and returns the server's log lines for its temp file. */
async function upload(server: SshdHandle, bytes: number): Promise<string[]> {
  const destination = await destinationFor(repositoryUrl(server, freshPath(server, 'flush')));
  const body = randomStream(bytes);
  expect(await destination.put('big.bin', body.stream, ctx)).toEqual({ bytes });
  expect(await hashStream(await destination.get('big.bin', ctx))).toEqual({ bytes, sha256: body.sha256() });
  await destination.close?.();
  return server
    .log()
    .split(/\r?\n/)
    .filter((line) => line.includes('.big.bin.nexus-tmp-'));
}

describe('flushing an upload while it is written', () => {
  it('fsyncs a large upload through a second channel before the final fsync', async () => {
    const lines = await upload(await loggingServer(), 80 * MiB);
    const fsyncs = lines.flatMap((line, index) => (line.startsWith('fsync ') ? [index] : []));
    const finalClose = lines.findIndex((line) => line.endsWith(`written ${80 * MiB}`));
    expect(lines.some((line) => /^open .* flags READ /.test(line))).toBe(true);
    expect(fsyncs.length).toBeGreaterThanOrEqual(2);
    // the last fsync comes after all writes, on the writing handle, before it is closed
    expect(fsyncs.at(-1)).toBeLessThan(finalClose);
    expect(lines.at(-1)).toMatch(/^posix-rename old /);
  });

  it('falls back to the one final fsync when the server allows a single channel', async () => {
    const server = await loggingServer(1);
    const lines = await upload(server, 40 * MiB);
    expect(lines.filter((line) => line.startsWith('fsync '))).toHaveLength(1);
    expect(lines.some((line) => /flags READ /.test(line))).toBe(false);
    expect(server.log()).toContain('no more sessions');
  });

  it('opens no second channel for an upload under 32 MiB', async () => {
    const server = await loggingServer();
    const lines = await upload(server, 8 * MiB);
    expect(lines.filter((line) => line.startsWith('fsync '))).toHaveLength(1);
    expect(server.log().match(/session opened/g)).toHaveLength(1);
  });
});
