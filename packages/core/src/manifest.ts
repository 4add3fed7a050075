import { randomBytes } from 'node:crypto';
import type { Json } from './contracts.js';
import { NexusError } from './errors.js';
import type { Digest } from './hashing.js';

/** The commit marker of a backup: written last, so a backup without it does not exist. */
export const MANIFEST_FILE = 'manifest.json';
export const MANIFEST_FORMAT = 'nexus-backup-manifest';
export const MANIFEST_VERSION = 1;

export interface ManifestArtifact {
  /** Artifact name as the source produced it, e.g. `database.sql`. */
  name: string;
  /** Stored file name inside the backup folder, with transform extensions, e.g. `database.sql.gz.aes`. */
  file: string;
  stored: Digest;
  raw: Digest;
  meta: { [key: string]: Json };
}

export interface ManifestProvider {
  provider: string;
  version: string;
}

export interface ManifestTransform extends ManifestProvider {
  extension: string;
  params: { [key: string]: Json };
}

export interface Manifest {
  format: typeof MANIFEST_FORMAT;
  version: typeof MANIFEST_VERSION;
  id: string;
  pipeline: string;
  startedAt: string;
  finishedAt: string;
  host: string;
  tool: { name: string; version: string };
  source: ManifestProvider & { description: { [key: string]: Json } };
  transforms: ManifestTransform[];
  artifacts: ManifestArtifact[];
}

/** `20261126T051822Z-3f9a1c`: sorts by time, safe as a folder name and an object key everywhere. */
export function createBackupId(now: Date = new Date()): string {
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

const BACKUP_ID = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-[0-9a-f]{6}$/;

export function isBackupId(id: string): boolean {
  return BACKUP_ID.test(id);
}

/** The start time encoded in a backup id; used for leftovers that have no manifest. */
export function backupIdTime(id: string): Date | undefined {
  const match = BACKUP_ID.exec(id);
  if (!match) return undefined;
  const [, year, month, day, hour, minute, second] = match;
  return new Date(`${year}-${month}-${day}T${hour}:${minute}:${second}Z`);
}

export const PIPELINE_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;

export function assertPipelineName(name: string): void {
  if (!PIPELINE_NAME.test(name)) {
    throw new NexusError('USAGE', `invalid pipeline name "${name}"`, {
      hint: 'use lowercase letters, digits, ".", "_" and "-", starting with a letter or digit',
    });
  }
}

export function serializeManifest(manifest: Manifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

/** Parses and checks a manifest; anything unexpected makes the backup unverifiable, never silently used. */
export function parseManifest(text: string, where: string): Manifest {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new NexusError('INTEGRITY', `manifest ${where} is not valid JSON`, { cause: error });
  }
  const manifest = value as Partial<Manifest>;
  if (typeof value !== 'object' || value === null || manifest.format !== MANIFEST_FORMAT) {
    throw new NexusError('INTEGRITY', `${where} is not a nexus-backup manifest`);
  }
  if (manifest.version !== MANIFEST_VERSION) {
    // Lines that print only the message (list, restore's skip warning) must still say what to do.
    const newer =
      typeof manifest.version === 'number' && manifest.version > MANIFEST_VERSION
        ? `, written by a newer nexus-backup (this one reads version ${MANIFEST_VERSION}): upgrade nexus-backup to read it`
        : '';
    throw new NexusError('INTEGRITY', `manifest ${where} has version ${String(manifest.version)}${newer}`, {
      hint: newer ? undefined : `this nexus-backup reads version ${MANIFEST_VERSION}`,
    });
  }
  const problems: string[] = [];
  for (const key of ['id', 'pipeline', 'startedAt', 'finishedAt'] as const) {
    if (typeof manifest[key] !== 'string') problems.push(key);
  }
  for (const key of ['startedAt', 'finishedAt'] as const) {
    if (typeof manifest[key] === 'string' && Number.isNaN(Date.parse(manifest[key]))) problems.push(key);
  }
  if (typeof manifest.source?.provider !== 'string') problems.push('source.provider');
  if (!Array.isArray(manifest.transforms)) problems.push('transforms');
  if (!Array.isArray(manifest.artifacts)) problems.push('artifacts');
  manifest.transforms?.forEach((transform, index) => {
    const params = transform?.params;
    if (
      typeof transform?.provider !== 'string' ||
      typeof transform.extension !== 'string' ||
      typeof params !== 'object' ||
      params === null ||
      Array.isArray(params)
    ) {
      problems.push(`transforms[${index}]`);
    }
  });
  manifest.artifacts?.forEach((artifact, index) => {
    if (!isArtifactFile(artifact?.file) || !isDigest(artifact.stored) || !isDigest(artifact.raw)) {
      problems.push(`artifacts[${index}]`);
    }
  });
  if (problems.length > 0) {
    throw new NexusError('INTEGRITY', `manifest ${where} is damaged (bad ${problems.join(', ')})`);
  }
  return manifest as Manifest;
}

/** A plain file name inside the backup folder: a manifest must never point a restore elsewhere. */
function isArtifactFile(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    /^[^/\\]+$/.test(value) &&
    value !== '.' &&
    value !== '..' &&
    value !== MANIFEST_FILE
  );
}

/** A size is a whole number of bytes and a SHA-256 is 64 lowercase hex digits. */
function isDigest(value: unknown): value is Digest {
  const digest = value as Digest | undefined;
  return (
    Number.isSafeInteger(digest?.bytes) &&
    (digest?.bytes as number) >= 0 &&
    typeof digest?.sha256 === 'string' &&
    /^[0-9a-f]{64}$/.test(digest.sha256)
  );
}

export function manifestBytes(manifest: Manifest): number {
  return manifest.artifacts.reduce((total, artifact) => total + artifact.stored.bytes, 0);
}
