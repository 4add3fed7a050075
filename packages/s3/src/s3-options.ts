import type { OptionsSpec, OptionValues } from '@nexus-backup/core';

/** The one declaration from which config keys, CLI flags, help text and URL query parameters derive. */
export const s3Options = {
  bucket: {
    type: 'string',
    required: true,
    description: 'Bucket name (the host part of s3://bucket/prefix)',
  },
  prefix: {
    type: 'string',
    default: '',
    description:
      'Key prefix inside the bucket under which the repository lives (the path of s3://bucket/prefix)',
  },
  region: {
    type: 'string',
    description:
      'AWS region of the bucket; default from AWS_REGION or the shared profile, us-east-1 with an endpoint',
  },
  endpoint: {
    type: 'string',
    placeholder: 'URL',
    description:
      'Endpoint of an S3-compatible store, e.g. http://127.0.0.1:9000 (MinIO) or https://<account>.r2.cloudflarestorage.com',
  },
  forcePathStyle: {
    type: 'boolean',
    default: false,
    description:
      'Address the bucket in the path (endpoint/bucket/key) instead of the host name; most S3-compatible stores need it',
  },
  storageClass: {
    type: 'string',
    description:
      'Storage class of new objects, e.g. STANDARD_IA or GLACIER_IR (not GLACIER/DEEP_ARCHIVE: restore needs instant reads)',
  },
  sse: {
    type: 'string',
    choices: ['AES256', 'aws:kms'],
    description:
      'Server-side encryption: AES256 (S3-managed keys) or aws:kms (with sseKmsKeyId or the AWS-managed key)',
  },
  sseKmsKeyId: { type: 'string', description: 'KMS key id or ARN for sse=aws:kms (implies it)' },
  requestChecksum: {
    type: 'string',
    choices: ['when_supported', 'when_required'],
    default: 'when_supported',
    description:
      'when_supported sends a CRC32 with every upload; when_required only where S3 demands one (for stores that reject the SDK checksums)',
  },
  partSize: {
    type: 'number',
    default: 8,
    description: 'Multipart part size in MiB (5-5120); memory is about partSize x (queueSize + 1)',
  },
  growPartSize: {
    type: 'boolean',
    default: true,
    description:
      'Double the part size every 1,000 parts so one object can reach 5 TiB; false keeps parts equal (Cloudflare R2 requires it), capping an object at partSize x 10,000',
  },
  queueSize: { type: 'number', default: 4, description: 'Parts uploaded concurrently' },
  maxAttempts: {
    type: 'number',
    default: 5,
    description: 'Attempts per request, with backoff, on throttling, 5xx errors and dropped connections',
  },
  idleTimeout: {
    type: 'number',
    default: 120,
    integer: true,
    min: 1,
    description:
      'Seconds a request may wait without a byte moving (a store that stopped answering) before it fails and is retried',
  },
} as const satisfies OptionsSpec;

export type S3Options = OptionValues<typeof s3Options>;
