import { buffer } from 'node:stream/consumers';
import {
  type Destination,
  isBackupId,
  MANIFEST_FILE,
  NexusError,
  type RunContext,
  type StoredObject,
} from '@nexus-backup/core';

/** One `<pipeline>/<backup-id>/` folder of a repository as a destination lists it. */
export interface BackupFolder {
  /** `<pipeline>/<backup-id>` */
  name: string;
  files: Map<string, StoredObject>;
  hasManifest: boolean;
}

/** What a mirror needs from a manifest; every other field is ignored, so newer manifests mirror too. */
export interface MirrorManifest {
  bytes: Buffer;
  artifacts: { file: string; stored: { bytes: number; sha256: string } }[];
}

/** Groups a repository listing into backup folders; keys outside `<pipeline>/<backup-id>/<file>` are not ours. */
export async function scanBackupFolders(
  destination: Destination,
  ctx: RunContext,
): Promise<Map<string, BackupFolder>> {
  const folders = new Map<string, BackupFolder>();
  for await (const object of destination.list('', ctx)) {
    const parts = object.key.split('/');
    if (parts.length !== 3) continue;
    const [pipeline, id, file] = parts as [string, string, string];
    if (!isBackupId(id)) continue;
    const name = `${pipeline}/${id}`;
    const folder = folders.get(name) ?? { name, files: new Map(), hasManifest: false };
    folder.files.set(file, object);
    if (file === MANIFEST_FILE) folder.hasManifest = true;
    folders.set(name, folder);
  }
  return new Map([...folders.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export async function readMirrorManifest(
  destination: Destination,
  folder: string,
  ctx: RunContext,
): Promise<MirrorManifest> {
  const key = `${folder}/${MANIFEST_FILE}`;
  const bytes = await buffer(await destination.get(key, ctx));
  const where = `${destination.location}/${key}`;
  const damaged = (detail: string) => new NexusError('INTEGRITY', `manifest ${where} is damaged: ${detail}`);
  let value: unknown;
  try {
    value = JSON.parse(bytes.toString('utf8'));
  } catch (error) {
    throw new NexusError('INTEGRITY', `manifest ${where} is not valid JSON`, { cause: error });
  }
  const artifacts = (value as { artifacts?: unknown } | null)?.artifacts;
  if (!Array.isArray(artifacts)) throw damaged('no artifacts list');
  return {
    bytes,
    artifacts: artifacts.map((artifact: unknown, index) => {
      const { file, stored } = (artifact ?? {}) as {
        file?: unknown;
        stored?: { bytes?: unknown; sha256?: unknown };
      };
      const fileOk =
        typeof file === 'string' &&
        /^[^/\\]+$/.test(file) &&
        file !== '.' &&
        file !== '..' &&
        file !== MANIFEST_FILE;
      if (!fileOk) throw damaged(`artifacts[${index}].file is not a file name`);
      if (
        typeof stored?.bytes !== 'number' ||
        typeof stored.sha256 !== 'string' ||
        !/^[0-9a-f]{64}$/.test(stored.sha256)
      ) {
        throw damaged(`artifacts[${index}].stored is not a size and SHA-256`);
      }
      return { file, stored: { bytes: stored.bytes, sha256: stored.sha256 } };
    }),
  };
}
