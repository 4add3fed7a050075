import { defineDestination } from '@nexus-backup/core';
import { s3Options } from './s3-options.js';
import { s3OptionsFromUrl } from './s3-url.js';

export type { S3Options } from './s3-options.js';

/**
 * S3 and S3-compatible stores (MinIO, Cloudflare R2, Backblaze B2, Ceph): streaming multipart upload
 * with bounded memory. The AWS SDK is imported by `create()` only, so loading this module stays cheap.
 */
export const s3 = defineDestination({
  name: 's3',
  description: 'S3 or an S3-compatible store: s3://bucket/prefix?region=...&endpoint=...&forcePathStyle=true',
  schemes: ['s3'],
  options: s3Options,
  fromUrl: s3OptionsFromUrl,
  argvSecrets: {
    hint: 'S3 keys come from the AWS credential chain: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and ~/.aws/credentials, or an instance role; write s3://bucket/prefix without them',
  },
  async create(options) {
    const { createS3Destination } = await import('./s3-destination.js');
    return createS3Destination(options);
  },
});
