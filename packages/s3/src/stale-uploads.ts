import {
  AbortMultipartUploadCommand,
  ListMultipartUploadsCommand,
  type ListMultipartUploadsCommandOutput,
  type MultipartUpload,
  type S3Client,
} from '@aws-sdk/client-s3';
import type { RunContext } from '@nexus-backup/core';
import { isUnsupported } from './s3-errors.js';

export interface StaleUploadsInput {
  client: S3Client;
  bucket: string;
  /** Full key prefix of the repository (`''` or ending in `/`). */
  prefix: string;
  /** `s3://bucket/prefix`, for messages. */
  location: string;
  olderThan: Date;
  dryRun: boolean;
  ctx: RunContext;
}

/**
 * Finds multipart uploads under the prefix started before `olderThan` (a crashed run's leftovers,
 * invisible to list but billed) and aborts them unless `dryRun`. Returns one line per upload. Stores
 * that cannot list uploads get a warning pointing at the lifecycle rule that does this server-side.
 */
export async function abortStaleUploads(input: StaleUploadsInput): Promise<string[]> {
  const { client, bucket, prefix, location, olderThan, dryRun, ctx } = input;
  const stale: MultipartUpload[] = [];
  let keyMarker: string | undefined;
  let uploadIdMarker: string | undefined;
  do {
    let page: ListMultipartUploadsCommandOutput;
    try {
      page = await client.send(
        new ListMultipartUploadsCommand({
          Bucket: bucket,
          Prefix: prefix,
          KeyMarker: keyMarker,
          UploadIdMarker: uploadIdMarker,
        }),
        { abortSignal: ctx.signal },
      );
    } catch (error) {
      if (!isUnsupported(error)) throw error;
      warnUnlisted(location, ctx);
      return [];
    }
    // A real ListMultipartUploadsResult always names its bucket; a store that answers `?uploads`
    // with something else (e.g. a ListObjects result) cannot list uploads.
    if (page.Bucket === undefined) {
      warnUnlisted(location, ctx);
      return [];
    }
    for (const upload of page.Uploads ?? []) {
      if (upload.Initiated && upload.Initiated < olderThan) stale.push(upload);
    }
    const more =
      page.IsTruncated === true &&
      (page.NextKeyMarker !== undefined || page.NextUploadIdMarker !== undefined);
    keyMarker = more ? page.NextKeyMarker : undefined;
    uploadIdMarker = more ? page.NextUploadIdMarker : undefined;
  } while (keyMarker !== undefined || uploadIdMarker !== undefined);

  const lines: string[] = [];
  for (const upload of stale) {
    const line = `incomplete multipart upload s3://${bucket}/${upload.Key} started ${upload.Initiated?.toISOString()} (upload id ${upload.UploadId})`;
    if (!dryRun) {
      await client.send(
        new AbortMultipartUploadCommand({ Bucket: bucket, Key: upload.Key, UploadId: upload.UploadId }),
        {
          abortSignal: ctx.signal,
        },
      );
    }
    lines.push(line);
  }
  return lines;
}

function warnUnlisted(location: string, ctx: RunContext): void {
  ctx.log.warn(
    `${location}: this store cannot list multipart uploads, so prune cannot abort incomplete ones; ` +
      'add a bucket lifecycle rule with AbortIncompleteMultipartUpload (see the @nexus-backup/s3 README)',
  );
}
