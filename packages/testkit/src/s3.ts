import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';

/**
 * Two independent S3 server implementations, so one server's quirks do not shape a provider:
 * - `s3rver`: files on disk; no ListMultipartUploads, no AbortMultipartUpload, no lifecycle rules.
 * - `fauxqs`: AbortMultipartUpload and lifecycle configuration (stored, not enforced); objects and
 *   open multipart uploads kept on disk through `FAUXQS_S3_STORAGE_DIR`; needs Node >= 22.5.
 *   Its GET `?uploads` falls through to ListObjects, so it cannot list multipart uploads either.
 */
export type S3ServerKind = 's3rver' | 'fauxqs';

export interface StartS3ServerOptions {
  kind: S3ServerKind;
  /** Bucket created at start. Default `nexus-test`. */
  bucket?: string;
}

export interface S3Server {
  kind: S3ServerKind;
  /** `http://127.0.0.1:<port>`; use path-style addressing (`forcePathStyle`). */
  endpoint: string;
  bucket: string;
  region: string;
  /** The credentials the server accepts (s3rver checks signatures; fauxqs accepts any). */
  credentials: { accessKeyId: string; secretAccessKey: string };
  /** Where the server keeps its data. */
  dataDir: string;
  /** Creates another (empty) bucket. */
  createBucket(name: string): Promise<void>;
  /**
   * Ids of multipart uploads still open in `bucket`, read from the server's own storage on disk,
   * since neither server answers ListMultipartUploads.
   */
  openMultipartUploads(bucket?: string): Promise<string[]>;
  stop(): Promise<void>;
}

const REGION = 'us-east-1';

/** Starts an S3 server as a child process on 127.0.0.1 with a random port and a temp dir, and creates a bucket. */
export async function startS3Server(options: StartS3ServerOptions): Promise<S3Server> {
  const { kind } = options;
  const bucket = options.bucket ?? 'nexus-test';
  const dataDir = await mkdtemp(join(tmpdir(), `nexus-${kind}-`));
  // s3rver encrypts ListObjectsV2 continuation tokens with DES, which OpenSSL 3 only has in its legacy provider.
  const nodeFlags = kind === 's3rver' ? ['--openssl-legacy-provider'] : [];
  const child = spawn(process.execPath, [...nodeFlags, '--input-type=module', '-e', launcherScript(kind)], {
    env: { ...process.env, NEXUS_S3_DATA_DIR: dataDir, NEXUS_S3_MODULE: serverModuleUrl(kind) },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let port: number;
  try {
    port = await readPort(child);
  } catch (error) {
    child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const credentials =
    kind === 's3rver'
      ? { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' }
      : { accessKeyId: 'test', secretAccessKey: 'test' };

  const createBucket = async (name: string) => {
    // Both servers accept an unsigned CreateBucket, which keeps the testkit free of the AWS SDK.
    const response = await fetch(`${endpoint}/${encodeURIComponent(name)}`, { method: 'PUT' });
    const text = await response.text();
    if (!response.ok) throw new Error(`${kind}: creating bucket ${name} failed: ${response.status} ${text}`);
  };

  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin?.end(); // the launcher exits when its stdin closes
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dataDir, { recursive: true, force: true });
  };

  try {
    await createBucket(bucket);
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    kind,
    endpoint,
    bucket,
    region: REGION,
    credentials,
    dataDir,
    createBucket,
    openMultipartUploads: (name = bucket) => listUploadDirs(kind, dataDir, name),
    stop,
  };
}

function serverModuleUrl(kind: S3ServerKind): string {
  const require = createRequire(import.meta.url);
  if (kind === 's3rver') return pathToFileURL(require.resolve('s3rver')).href;
  // fauxqs is ESM-only with an `import` condition, which require.resolve does not match.
  return import.meta.resolve('fauxqs');
}

/**
 * The child process: starts the server, prints `PORT <n>`, and exits when the parent closes stdin
 * (also when the test worker dies), so no server outlives its test file.
 */
function launcherScript(kind: S3ServerKind): string {
  const exitWithParent = `
    process.stdin.on('end', () => stop().then(() => process.exit(0), () => process.exit(1)));
    process.stdin.resume();`;
  if (kind === 's3rver') {
    return `
      const { default: S3rver } = await import(process.env.NEXUS_S3_MODULE);
      const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: process.env.NEXUS_S3_DATA_DIR });
      const { port } = await server.run();
      const stop = () => server.close();
      console.log('PORT ' + port);
      ${exitWithParent}`;
  }
  return `
    import net from 'node:net';
    // fauxqs always listens on 0.0.0.0; a test server stays on loopback.
    const listen = net.Server.prototype.listen;
    net.Server.prototype.listen = function (first, ...rest) {
      if (first && typeof first === 'object' && first.host === '0.0.0.0') first = { ...first, host: '127.0.0.1' };
      return listen.call(this, first, ...rest);
    };
    const { startFauxqs } = await import(process.env.NEXUS_S3_MODULE);
    const server = await startFauxqs({ port: 0, logger: false, s3StorageDir: process.env.NEXUS_S3_DATA_DIR });
    const stop = () => server.stop();
    console.log('PORT ' + server.port);
    ${exitWithParent}`;
}

function readPort(child: ChildProcess): Promise<number> {
  return new Promise((resolve, reject) => {
    let stderr = '';
    child.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    const lines = createInterface({ input: child.stdout! });
    lines.on('line', (line) => {
      const match = /^PORT (\d+)$/.exec(line.trim());
      if (match) resolve(Number(match[1]));
    });
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      reject(new Error(`S3 server exited before listening (code ${code}, signal ${signal}): ${stderr}`));
    });
  });
}

async function listUploadDirs(kind: S3ServerKind, dataDir: string, bucket: string): Promise<string[]> {
  // fauxqs: <dir>/_multipart/<uploadId>/.upload.json; s3rver: <dir>/<bucket>/._S3rver_uploads/<uploadId>/
  const uploadsDir =
    kind === 'fauxqs' ? join(dataDir, '_multipart') : join(dataDir, bucket, '._S3rver_uploads');
  let entries: string[];
  try {
    entries = await readdir(uploadsDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  if (kind === 's3rver') return entries;
  const inBucket: string[] = [];
  for (const id of entries) {
    const meta = await readFile(join(uploadsDir, id, '.upload.json'), 'utf8')
      .then((text) => JSON.parse(text) as { bucket?: string })
      .catch(() => ({}) as { bucket?: string });
    if (meta.bucket === undefined || meta.bucket === bucket) inBucket.push(id);
  }
  return inBucket;
}

/** One request seen by the fault proxy. */
export interface S3ProxyRequest {
  method: string;
  /** Path without the query, e.g. `/bucket/key`. */
  path: string;
  query: URLSearchParams;
  /** Declared Content-Length, when the client sent one. */
  bytes: number | undefined;
}

/** An HTTP error status answered with an S3 error body, or `reset` to drop the connection. */
export type S3Fault = { status: number; code: string } | 'reset';

export interface S3FaultRule {
  match(request: S3ProxyRequest): boolean;
  fault: S3Fault;
  /** How many matching requests get the fault; default: all of them. */
  times?: number;
}

export interface S3FaultProxy {
  /** Point the client here instead of at the server. */
  endpoint: string;
  /** Every request received, in order (faulted ones included). */
  requests: S3ProxyRequest[];
  /** Faults that were injected, in order. */
  injected: { request: S3ProxyRequest; fault: S3Fault }[];
  addFault(rule: S3FaultRule): void;
  clearFaults(): void;
  stop(): Promise<void>;
}

/**
 * A loopback HTTP proxy in front of an S3 server that answers chosen requests with an error status or
 * drops their connection, and passes everything else through unchanged (Host header included, so
 * SigV4 signatures stay valid).
 */
export async function startS3FaultProxy(target: string): Promise<S3FaultProxy> {
  const upstream = new URL(target);
  const rules: { rule: S3FaultRule; left: number }[] = [];
  const requests: S3ProxyRequest[] = [];
  const injected: S3FaultProxy['injected'] = [];

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://proxy');
    const length = req.headers['content-length'];
    const seen: S3ProxyRequest = {
      method: req.method ?? 'GET',
      path: decodeURIComponent(url.pathname),
      query: url.searchParams,
      bytes: length === undefined ? undefined : Number(length),
    };
    requests.push(seen);
    const hit = rules.find((entry) => entry.left > 0 && entry.rule.match(seen));
    if (hit) {
      hit.left -= 1;
      injected.push({ request: seen, fault: hit.rule.fault });
      const fault = hit.rule.fault;
      if (fault === 'reset') {
        req.socket.destroy();
        return;
      }
      // Read the whole body first, so the client sees a clean error response rather than a broken pipe.
      req.resume();
      req.once('end', () => {
        const body = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${fault.code}</Code><Message>injected by the test proxy</Message></Error>`;
        res.writeHead(fault.status, {
          'content-type': 'application/xml',
          'content-length': Buffer.byteLength(body),
        });
        res.end(body);
      });
      return;
    }
    const forward = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        pipeline(answer, res).catch(() => res.destroy());
      },
    );
    forward.once('error', () => res.destroy());
    pipeline(req, forward).catch(() => forward.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('fault proxy has no TCP address');

  return {
    endpoint: `http://127.0.0.1:${address.port}`,
    requests,
    injected,
    addFault: (rule) => rules.push({ rule, left: rule.times ?? Number.POSITIVE_INFINITY }),
    clearFaults: () => {
      rules.length = 0;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
