import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  type DeleteObjectsCommandOutput,
  GetObjectCommand,
  paginateListObjectsV2,
  S3Client,
  type ServerSideEncryption,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { type Destination, NexusError, type RunContext, type StoredObject } from '@nexus-backup/core';
import { createPartBuffers } from './part-buffers.js';
import { MAX_PART_BYTES, MIN_PART_BYTES, MiB, type PartPlan } from './part-plan.js';
import { isNoSuchKey, isUnsupported, type S3Place, toS3Error } from './s3-errors.js';
import type { S3Options } from './s3-options.js';
import { abortStaleUploads } from './stale-uploads.js';
import { failWhenStalled } from './stalled-read.js';
import { uploadStream } from './stream-upload.js';

/** DeleteObjects takes at most 1,000 keys per request. */
const DELETE_BATCH = 1000;
/** Concurrent single deletes when a store lacks DeleteObjects. */
const SINGLE_DELETE_CONCURRENCY = 8;

/** Builds the destination; loaded by `create()` only, so the AWS SDK is imported when s3 is used. */
export function createS3Destination(options: S3Options): Destination {
  const plan = partPlanOf(options);
  const buffers = createPartBuffers(plan.queueSize + 1);
  const sse = serverSideEncryption(options);
  assertEndpoint(options.endpoint);
  const region =
    options.region ??
    process.env.AWS_REGION ??
    process.env.AWS_DEFAULT_REGION ??
    (options.endpoint ? 'us-east-1' : undefined);
  const checksum = options.requestChecksum === 'when_required' ? 'WHEN_REQUIRED' : 'WHEN_SUPPORTED';
  const idleMs = options.idleTimeout * 1000;
  const clientFor = (socketTimeout: number | undefined) =>
    new S3Client({
      region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      // The SDK's standard retry strategy backs off on throttling, 5xx and dropped connections.
      maxAttempts: options.maxAttempts,
      retryMode: 'standard',
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      // Without a socket timeout a store that stops answering mid-upload hangs the run for ever.
      requestHandler: { connectionTimeout: 10_000, socketTimeout, throwOnRequestTimeout: true },
    });
  const client = clientFor(idleMs);
  // A download's socket idles whenever the restore pauses reading (an index build): its stall is
  // judged by failWhenStalled instead, which knows a paused reader from a silent store.
  const readClient = clientFor(undefined);
  const bucket = options.bucket;
  const base = options.prefix === '' ? '' : `${options.prefix.replace(/\/+$/, '')}/`;
  const place: S3Place = { bucket, region: region ?? '(default region)', endpoint: options.endpoint };
  const location = `s3://${bucket}/${base}`.replace(/\/$/, '');
  let deleteObjectsUnsupported = false;

  const fullKey = (key: string) => base + key;
  const fail = (error: unknown, operation: string) => toS3Error(error, operation, place);

  async function deleteOneByOne(keys: string[], ctx: RunContext): Promise<void> {
    const queue = [...keys];
    const workers = Array.from({ length: Math.min(SINGLE_DELETE_CONCURRENCY, queue.length) }, async () => {
      for (let key = queue.shift(); key !== undefined; key = queue.shift()) {
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: ctx.signal });
      }
    });
    await Promise.all(workers);
  }

  async function deleteBatch(keys: string[], ctx: RunContext): Promise<void> {
    if (deleteObjectsUnsupported) return deleteOneByOne(keys, ctx);
    let result: DeleteObjectsCommandOutput;
    try {
      result = await client.send(
        new DeleteObjectsCommand({
          Bucket: bucket,
          Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true },
        }),
        { abortSignal: ctx.signal },
      );
    } catch (error) {
      if (!isUnsupported(error)) throw error;
      ctx.log.debug(`${location}: the store lacks DeleteObjects; deleting keys one by one`);
      deleteObjectsUnsupported = true;
      return deleteOneByOne(keys, ctx);
    }
    const failed = (result.Errors ?? []).filter((entry) => entry.Code !== 'NoSuchKey');
    if (failed.length > 0) {
      const shown = failed
        .slice(0, 3)
        .map((entry) => `${entry.Key}: ${entry.Code} ${entry.Message ?? ''}`.trim())
        .join('; ');
      throw new NexusError(
        'IO',
        `could not delete ${failed.length} of ${keys.length} objects in ${location} (${shown})`,
        {
          provider: 's3',
          hint: failed.some((entry) => entry.Code === 'AccessDenied')
            ? 'the credentials need s3:DeleteObject'
            : undefined,
        },
      );
    }
  }

  return {
    location,

    async put(key: string, body: Readable, ctx: RunContext) {
      try {
        return await uploadStream({
          client,
          params: {
            Bucket: bucket,
            Key: fullKey(key),
            StorageClass: options.storageClass as StorageClass | undefined,
            ...sse,
          },
          body,
          plan,
          checksums: checksum === 'WHEN_SUPPORTED',
          buffers,
          ctx,
        });
      } catch (error) {
        throw fail(error, `uploading ${location}/${key}`);
      }
    },

    async get(key: string, ctx: RunContext) {
      let body: Readable;
      try {
        const response = await readClient.send(new GetObjectCommand({ Bucket: bucket, Key: fullKey(key) }), {
          abortSignal: ctx.signal,
          requestTimeout: idleMs,
        });
        body = failWhenStalled(response.Body as Readable, idleMs, () =>
          fail(
            Object.assign(new Error(`no byte arrived for ${options.idleTimeout} s`), {
              name: 'TimeoutError',
            }),
            `reading ${location}/${key}`,
          ),
        );
      } catch (error) {
        if (isNoSuchKey(error)) {
          throw new NexusError('NOT_FOUND', `no object ${location}/${key}`, { provider: 's3', cause: error });
        }
        throw fail(error, `reading ${location}/${key}`);
      }
      // The caller owns the body from here; cancelling the run must still release its connection.
      const onAbort = () =>
        body.destroy(Object.assign(new Error('the read was aborted'), { name: 'AbortError' }));
      if (ctx.signal.aborted) onAbort();
      else {
        ctx.signal.addEventListener('abort', onAbort, { once: true });
        body.once('close', () => ctx.signal.removeEventListener('abort', onAbort));
      }
      return body;
    },

    async *list(prefix: string, ctx: RunContext): AsyncIterable<StoredObject> {
      const pages = paginateListObjectsV2(
        { client, pageSize: 1000 },
        { Bucket: bucket, Prefix: fullKey(prefix) },
      );
      try {
        for await (const page of pages) {
          ctx.signal.throwIfAborted();
          for (const object of page.Contents ?? []) {
            if (object.Key === undefined) continue;
            yield {
              key: object.Key.slice(base.length),
              bytes: object.Size ?? 0,
              modified: object.LastModified ?? new Date(0),
            };
          }
        }
      } catch (error) {
        throw fail(error, `listing ${location}/${prefix}`);
      }
    },

    async delete(keys: string[], ctx: RunContext) {
      try {
        for (let start = 0; start < keys.length; start += DELETE_BATCH) {
          await deleteBatch(keys.slice(start, start + DELETE_BATCH).map(fullKey), ctx);
        }
      } catch (error) {
        throw fail(error, `deleting from ${location}`);
      }
    },

    async cleanup(olderThan: Date, ctx: RunContext, dryRun: boolean) {
      try {
        return await abortStaleUploads({ client, bucket, prefix: base, location, olderThan, dryRun, ctx });
      } catch (error) {
        throw fail(error, `listing multipart uploads in ${location}`);
      }
    },

    async close() {
      client.destroy();
      readClient.destroy();
    },
  };
}

/** The SDK would only fail at the first request, with "TypeError: Invalid URL" and exit 2. */
function assertEndpoint(endpoint: string | undefined): void {
  if (endpoint === undefined) return;
  let protocol = '';
  try {
    protocol = new URL(endpoint).protocol;
  } catch {
    // reported below
  }
  if (protocol !== 'http:' && protocol !== 'https:') {
    throw new NexusError('USAGE', `endpoint=${endpoint} is not an http:// or https:// URL`, {
      provider: 's3',
      hint: 'write it like endpoint=http://127.0.0.1:9000 (scheme, host and port)',
    });
  }
}

function partPlanOf(options: S3Options): PartPlan {
  const startBytes = Math.round(options.partSize * MiB);
  if (!(startBytes >= MIN_PART_BYTES && startBytes <= MAX_PART_BYTES)) {
    throw new NexusError('USAGE', `partSize must be between 5 and 5120 (MiB), got ${options.partSize}`, {
      provider: 's3',
    });
  }
  if (!Number.isInteger(options.queueSize) || options.queueSize < 1) {
    throw new NexusError(
      'USAGE',
      `queueSize must be a whole number of at least 1, got ${options.queueSize}`,
      {
        provider: 's3',
      },
    );
  }
  if (!Number.isInteger(options.maxAttempts) || options.maxAttempts < 1) {
    throw new NexusError(
      'USAGE',
      `maxAttempts must be a whole number of at least 1, got ${options.maxAttempts}`,
      {
        provider: 's3',
      },
    );
  }
  return { startBytes, grow: options.growPartSize, queueSize: options.queueSize };
}

function serverSideEncryption(options: S3Options): {
  ServerSideEncryption?: ServerSideEncryption;
  SSEKMSKeyId?: string;
} {
  if (options.sseKmsKeyId !== undefined) {
    if (options.sse === 'AES256') {
      throw new NexusError('USAGE', 'sseKmsKeyId needs sse=aws:kms, but sse=AES256 is set', {
        provider: 's3',
      });
    }
    return { ServerSideEncryption: 'aws:kms', SSEKMSKeyId: options.sseKmsKeyId };
  }
  return options.sse === undefined ? {} : { ServerSideEncryption: options.sse as ServerSideEncryption };
}
