import { isAbortError, NexusError } from '@nexus-backup/core';

/** Where a request went, so an error can name what to fix. */
export interface S3Place {
  bucket: string;
  region: string;
  /** The custom endpoint, or undefined for AWS. */
  endpoint: string | undefined;
}

interface SdkErrorShape {
  name?: string;
  code?: string;
  message?: string;
  Region?: string;
  $metadata?: { httpStatusCode?: number; attempts?: number };
  $response?: { headers?: Record<string, string | undefined> };
  errors?: unknown[];
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
]);
const ACCESS_NAMES = new Set([
  'AccessDenied',
  'Forbidden',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'ExpiredToken',
  'InvalidToken',
  'TokenRefreshRequired',
]);
const REGION_NAMES = new Set([
  'PermanentRedirect',
  'AuthorizationHeaderMalformed',
  'IllegalLocationConstraintException',
]);
const UNSUPPORTED_NAMES = new Set(['NotImplemented', 'MethodNotAllowed']);

const CREDENTIALS_HINT =
  'check the credentials the AWS SDK chain found (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or the instance/container role) and that their policy allows s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject and s3:AbortMultipartUpload on the bucket';

/** True when the store answered that it does not implement the operation. */
export function isUnsupported(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as SdkErrorShape;
  const status = $metadata?.httpStatusCode;
  return UNSUPPORTED_NAMES.has(name ?? '') || status === 501 || status === 405;
}

export function isNoSuchKey(error: unknown): boolean {
  const { name, $metadata } = (error ?? {}) as SdkErrorShape;
  return name === 'NoSuchKey' || (name === 'NotFound' && $metadata?.httpStatusCode === 404);
}

/**
 * Turns an AWS SDK error into a NexusError that says what to fix: a missing bucket (NOT_FOUND),
 * refused credentials, a wrong region or an unreachable endpoint (CONNECTION), anything else (IO).
 */
export function toS3Error(error: unknown, operation: string, place: S3Place): NexusError {
  if (error instanceof NexusError) return error;
  const provider = 's3';
  if (isAbortError(error))
    return new NexusError('ABORTED', `${operation} was aborted`, { provider, cause: error });
  const shape = (error ?? {}) as SdkErrorShape;
  const name = shape.name ?? '';
  const status = shape.$metadata?.httpStatusCode;
  const where = place.endpoint ? `at ${place.endpoint}` : `in ${place.region}`;
  const detail =
    shape.message && shape.message !== name ? `${name}: ${shape.message}` : name || String(error);

  if (name === 'NoSuchBucket') {
    return new NexusError('NOT_FOUND', `bucket "${place.bucket}" does not exist ${where}`, {
      provider,
      cause: error,
      hint: 'create it, or fix the bucket (and endpoint/region) in the repository URL',
    });
  }
  if (name === 'CredentialsProviderError') {
    return new NexusError('CONNECTION', `no AWS credentials found for ${operation}`, {
      provider,
      cause: error,
      hint: 'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE, or run with an instance/container role',
    });
  }
  if (/region is missing/i.test(shape.message ?? '')) {
    return new NexusError('USAGE', 'no AWS region configured', {
      provider,
      cause: error,
      hint: 'add ?region=<bucket region> to the s3 URL or set AWS_REGION',
    });
  }
  const bucketRegion = shape.$response?.headers?.['x-amz-bucket-region'] ?? shape.Region;
  if (REGION_NAMES.has(name) || status === 301 || (bucketRegion && bucketRegion !== place.region)) {
    const actual = bucketRegion ? ` is in region ${bucketRegion},` : '';
    return new NexusError(
      'CONNECTION',
      `bucket "${place.bucket}"${actual} not reachable as ${place.region} (${detail})`,
      {
        provider,
        cause: error,
        hint: bucketRegion
          ? `set region=${bucketRegion} in the repository URL`
          : 'set region= to the bucket region',
      },
    );
  }
  if (ACCESS_NAMES.has(name) || status === 403) {
    return new NexusError(
      'CONNECTION',
      `access to bucket "${place.bucket}" ${where} was refused (${operation}: ${detail})`,
      {
        provider,
        cause: error,
        hint: CREDENTIALS_HINT,
      },
    );
  }
  if (isNetworkError(shape)) {
    const endpoint = place.endpoint ?? `the S3 endpoint of ${place.region}`;
    return new NexusError(
      'CONNECTION',
      `cannot reach ${endpoint} (${operation}: ${networkCode(shape) ?? detail})`,
      {
        provider,
        cause: error,
        hint: place.endpoint
          ? 'check endpoint= in the repository URL (scheme, host and port) and that the store is running'
          : 'check the network connection and region=',
      },
    );
  }
  if (isUnsupported(error)) {
    return new NexusError('IO', `this S3 store does not support ${operation} (${detail})`, {
      provider,
      cause: error,
    });
  }
  const attempts = shape.$metadata?.attempts;
  const tried = attempts && attempts > 1 ? ` after ${attempts} attempts` : '';
  return new NexusError('IO', `${operation} failed${tried}: ${detail}${status ? ` (HTTP ${status})` : ''}`, {
    provider,
    cause: error,
  });
}

function networkCode(shape: SdkErrorShape): string | undefined {
  if (shape.code && NETWORK_CODES.has(shape.code)) return shape.code;
  for (const inner of shape.errors ?? []) {
    const code = (inner as SdkErrorShape).code;
    if (code && NETWORK_CODES.has(code)) return code;
  }
  return undefined;
}

function isNetworkError(shape: SdkErrorShape): boolean {
  return networkCode(shape) !== undefined || shape.name === 'TimeoutError';
}
