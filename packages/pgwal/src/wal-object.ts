import { hostname } from 'node:os';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import {
  type Digest,
  type ManifestTransform,
  NexusError,
  type Repository,
  type RunContext,
  TOOL_VERSION,
} from '@nexus-backup/core';

/**
 * One archived WAL file is two objects under `<pipeline>/wal/`: its stored bytes `<name><ext...>` and,
 * written last, `<name>.json`: the commit marker with both SHA-256 digests and the transforms' decode
 * parameters. Without the marker the file does not exist (a push killed mid-upload leaves no segment
 * that `wal fetch` would return). The middle key part `wal` is never a backup id, so backups' scans
 * ignore these objects.
 */
export const WAL_FOLDER = 'wal';
export const WAL_MARKER_FORMAT = 'nexus-backup-wal';
const MARKER_SUFFIX = '.json';

export interface WalMarker {
  format: typeof WAL_MARKER_FORMAT;
  version: 1;
  /** The WAL file name PostgreSQL uses, e.g. `000000010000000000000003`. */
  name: string;
  /** The stored object's file name, e.g. `000000010000000000000003.gz.aes`. */
  file: string;
  pushedAt: string;
  host: string;
  tool: { name: string; version: string };
  transforms: ManifestTransform[];
  stored: Digest;
  raw: Digest;
}

export function walPrefix(pipeline: string): string {
  return `${pipeline}/${WAL_FOLDER}/`;
}

export function walObjectKey(pipeline: string, file: string): string {
  return `${walPrefix(pipeline)}${file}`;
}

export function markerKey(pipeline: string, name: string): string {
  return `${walPrefix(pipeline)}${name}${MARKER_SUFFIX}`;
}

/** The WAL file name of a marker key, or undefined for a stored-bytes key. */
export function markerName(key: string, pipeline: string): string | undefined {
  const rest = key.slice(walPrefix(pipeline).length);
  return key.startsWith(walPrefix(pipeline)) && rest.endsWith(MARKER_SUFFIX)
    ? rest.slice(0, -MARKER_SUFFIX.length)
    : undefined;
}

export function newMarker(
  name: string,
  file: string,
  transforms: ManifestTransform[],
  digests: { stored: Digest; raw: Digest },
): WalMarker {
  return {
    format: WAL_MARKER_FORMAT,
    version: 1,
    name,
    file,
    pushedAt: new Date().toISOString(),
    host: hostname(),
    tool: { name: 'nexus-backup', version: TOOL_VERSION },
    transforms,
    ...digests,
  };
}

/** The marker of an archived WAL file, or undefined when the repository does not hold it. */
export async function readMarker(
  repository: Repository,
  pipeline: string,
  name: string,
  ctx: RunContext,
): Promise<WalMarker | undefined> {
  const key = markerKey(pipeline, name);
  let body: Readable;
  try {
    body = await repository.destination.get(key, ctx);
  } catch (error) {
    if ((error as { code?: string }).code === 'NOT_FOUND') return undefined;
    throw error;
  }
  return parseMarker(await text(body), `${repository.label}/${key}`, name);
}

export async function writeMarker(
  repository: Repository,
  pipeline: string,
  marker: WalMarker,
  ctx: RunContext,
): Promise<void> {
  const body = Readable.from([Buffer.from(`${JSON.stringify(marker, null, 2)}\n`)]);
  await repository.destination.put(markerKey(pipeline, marker.name), body, ctx);
}

function parseMarker(source: string, where: string, name: string): WalMarker {
  let value: Partial<WalMarker>;
  try {
    value = JSON.parse(source) as Partial<WalMarker>;
  } catch (error) {
    throw new NexusError('INTEGRITY', `WAL marker ${where} is not valid JSON`, {
      cause: error,
      provider: 'pgwal',
    });
  }
  const digestOk = (digest: Digest | undefined) =>
    typeof digest?.bytes === 'number' && /^[0-9a-f]{64}$/.test(digest.sha256 ?? '');
  if (
    value?.format !== WAL_MARKER_FORMAT ||
    value.version !== 1 ||
    value.name !== name ||
    typeof value.file !== 'string' ||
    !value.file.startsWith(name) ||
    !Array.isArray(value.transforms) ||
    !digestOk(value.stored) ||
    !digestOk(value.raw)
  ) {
    throw new NexusError('INTEGRITY', `WAL marker ${where} is damaged`, {
      provider: 'pgwal',
      hint: 'the archived file cannot be trusted; restore from another repository',
    });
  }
  return value as WalMarker;
}
