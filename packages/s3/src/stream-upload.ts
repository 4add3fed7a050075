import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  type CompletedPart,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { NexusError, type RunContext } from '@nexus-backup/core';
import type { PartBuffers } from './part-buffers.js';
import { concurrencyFor, MAX_PARTS, maxObjectBytes, type PartPlan, partBytes } from './part-plan.js';
import { type Part, readParts } from './part-reader.js';

export interface StreamUploadInput {
  client: S3Client;
  /** Bucket, Key and the per-object settings (storage class, encryption). */
  params: Pick<
    PutObjectCommandInput,
    'Bucket' | 'Key' | 'StorageClass' | 'ServerSideEncryption' | 'SSEKMSKeyId'
  >;
  body: Readable;
  plan: PartPlan;
  /** Declare CRC32 on the multipart upload, since the SDK then sends one with every part. */
  checksums: boolean;
  /** Where part buffers come from and go back to; a fresh allocation per part when absent. */
  buffers?: PartBuffers;
  ctx: RunContext;
}

/**
 * Streams a body of unknown length into one object. A body that fits one part goes up with a single
 * PutObject (so an empty body never starts a multipart upload); a larger one as a multipart upload with
 * growing parts and bounded concurrency. On any failure or abort the body is destroyed, in-flight
 * requests are cancelled and the multipart upload is aborted before this rejects, so the key never
 * appears and no upload is left open (unless the store cannot abort, which is logged).
 */
export async function uploadStream(input: StreamUploadInput): Promise<{ bytes: number }> {
  const { client, params, body, ctx } = input;
  const cancel = new AbortController();
  const onAbort = () => {
    cancel.abort(ctx.signal.reason);
    body.destroy(abortError());
  };
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });
  try {
    const parts = readParts(body, (partNumber) => partBytes(input.plan, partNumber), input.buffers?.take);
    const first = await parts.next();
    if (first.done) throw new Error('the part reader yielded nothing');
    if (first.value.last) {
      const data = first.value.data;
      await client.send(new PutObjectCommand({ ...params, Body: data, ContentLength: data.length }), {
        abortSignal: cancel.signal,
      });
      input.buffers?.give(first.value.buffer);
      return { bytes: data.length };
    }
    return await uploadMultipart(input, first.value, parts, cancel);
  } catch (error) {
    body.destroy();
    throw ctx.signal.aborted ? abortError(error) : error;
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
  }
}

async function uploadMultipart(
  input: StreamUploadInput,
  first: Part,
  parts: AsyncGenerator<Part>,
  cancel: AbortController,
): Promise<{ bytes: number }> {
  const { client, params, body, plan, ctx } = input;
  const created = await client.send(
    new CreateMultipartUploadCommand({
      ...params,
      ...(input.checksums ? { ChecksumAlgorithm: 'CRC32' } : {}),
    }),
    { abortSignal: cancel.signal },
  );
  const uploadId = created.UploadId;
  if (!uploadId)
    throw new NexusError('IO', 'the store returned no UploadId for CreateMultipartUpload', {
      provider: 's3',
    });

  const completed: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let bytes = 0;
  const fail = (error: unknown) => {
    failure ??= error;
    cancel.abort();
    body.destroy();
  };
  const start = (part: Part) => {
    const sending = client
      .send(
        new UploadPartCommand({
          Bucket: params.Bucket,
          Key: params.Key,
          UploadId: uploadId,
          PartNumber: part.partNumber,
          Body: part.data,
          ContentLength: part.data.length,
        }),
        { abortSignal: cancel.signal },
      )
      .then((result) => {
        if (!result.ETag) throw new Error(`the store returned no ETag for part ${part.partNumber}`);
        completed.push({
          PartNumber: part.partNumber,
          ETag: result.ETag,
          ChecksumCRC32: result.ChecksumCRC32,
        });
        // The request has settled, so nothing references the bytes any more.
        input.buffers?.give(part.buffer);
      })
      .catch(fail)
      .finally(() => inFlight.delete(sending));
    inFlight.add(sending);
  };

  try {
    let part: Part | undefined = first;
    while (part && failure === undefined) {
      if (part.partNumber > MAX_PARTS) throw tooManyParts(plan);
      // Wait for a free slot before reading further: this is what bounds memory.
      while (inFlight.size >= concurrencyFor(plan, part.data.length) && failure === undefined) {
        await Promise.race(inFlight);
      }
      if (failure !== undefined) break;
      bytes += part.data.length;
      start(part);
      if (part.last) break;
      part = (await parts.next()).value as Part | undefined;
    }
    await Promise.all(inFlight);
    if (failure !== undefined) throw failure;
    completed.sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0));
    await client.send(
      new CompleteMultipartUploadCommand({
        Bucket: params.Bucket,
        Key: params.Key,
        UploadId: uploadId,
        MultipartUpload: { Parts: completed },
      }),
      { abortSignal: cancel.signal },
    );
    return { bytes };
  } catch (error) {
    fail(error);
    // No part may land after the abort, or the store would keep it.
    await Promise.allSettled(inFlight);
    await abortUpload(client, params, uploadId, ctx);
    throw failure;
  }
}

async function abortUpload(
  client: S3Client,
  params: StreamUploadInput['params'],
  uploadId: string,
  ctx: RunContext,
): Promise<void> {
  try {
    // Deliberately without the abort signal: this must run even when the put was cancelled.
    await client.send(
      new AbortMultipartUploadCommand({ Bucket: params.Bucket, Key: params.Key, UploadId: uploadId }),
    );
  } catch (error) {
    const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    ctx.log.warn(
      `could not abort multipart upload ${uploadId} of s3://${params.Bucket}/${params.Key} (${reason}); ` +
        'prune aborts it later where the store lists uploads, and a bucket lifecycle rule (AbortIncompleteMultipartUpload) removes it',
    );
  }
}

function tooManyParts(plan: PartPlan): NexusError {
  const limit = (maxObjectBytes(plan) / 1024 ** 3).toFixed(1);
  return new NexusError('IO', `the stream exceeds ${MAX_PARTS} parts (${limit} GiB with this part size)`, {
    provider: 's3',
    hint: plan.grow
      ? 'the object is larger than S3 allows'
      : 'raise partSize, or allow growPartSize where the store permits',
  });
}

function abortError(cause?: unknown): Error {
  return Object.assign(new Error('the upload was aborted', cause === undefined ? undefined : { cause }), {
    name: 'AbortError',
    code: 'ABORT_ERR',
  });
}
