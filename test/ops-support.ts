import { writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { REPO_ROOT } from './helpers/cli.js';

export interface ReceivedRequest {
  method: string;
  path: string;
  contentType: string;
  body: string;
}

export interface HttpListener {
  /** `http://127.0.0.1:<port>` */
  url: string;
  requests: ReceivedRequest[];
  close(): Promise<void>;
}

/** A real HTTP server on loopback that records every request; `status` decides the answer. */
export async function startHttpListener(status = 200): Promise<HttpListener> {
  const requests: ReceivedRequest[] = [];
  const server = createServer(async (request: IncomingMessage, response) => {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    requests.push({
      method: request.method ?? '',
      path: request.url ?? '',
      contentType: request.headers['content-type'] ?? '',
      body: Buffer.concat(chunks).toString('utf8'),
    });
    response.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/**
 * An in-house source module for `plugins:`: `slow` yields one artifact of `chunks` KiB, one KiB every
 * `delayMs`, honouring the abort signal; `fail: true` makes it fail before it streams.
 */
export async function writeSlowSourcePlugin(dir: string): Promise<string> {
  const core = pathToFileURL(join(REPO_ROOT, 'packages/core/dist/index.js')).href;
  const file = join(dir, 'slow-source.mjs');
  await writeFile(
    file,
    `import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineSource } from '${core}';

async function* chunks(count, delayMs, signal) {
  for (let index = 0; index < count; index++) {
    await sleep(delayMs, undefined, { signal });
    // 256 KiB: what stages pass on at once (smaller chunks wait to be joined), so each reaches the repository.
    yield Buffer.alloc(256 * 1024, index % 256);
  }
}

export const slow = defineSource({
  name: 'slow',
  description: 'test source that streams slowly',
  options: {
    chunks: { type: 'number', description: 'chunks of 256 KiB to produce', default: 4 },
    delayMs: { type: 'number', description: 'pause before each chunk', default: 100 },
    fail: { type: 'boolean', description: 'fail before streaming (as an unreachable server does)', default: false },
  },
  restoreOptions: {},
  create: (options) => ({
    describe: async () => {
      if (options.fail) throw new Error('slow source failed on purpose');
      return { chunks: options.chunks };
    },
    async *backup(ctx) {
      yield { name: 'slow.bin', stream: Readable.from(chunks(options.chunks, options.delayMs, ctx.signal)) };
    },
    restore: async () => ({ lines: [] }),
  }),
});
`,
  );
  return file;
}

/** A service folder with an `.env`, the slow source plugin and `nexus-backup.yaml` holding `yaml`. */
export async function writeOpsProject(dir: string, yaml: string): Promise<string> {
  await writeFile(join(dir, '.env'), 'DATABASE_URL=postgres://app@db/app\nAPI_KEY=not-a-real-key\n', {
    mode: 0o600,
  });
  await writeSlowSourcePlugin(dir);
  const config = join(dir, 'nexus-backup.yaml');
  await writeFile(config, yaml);
  return config;
}
