import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import type { Destination, RunContext } from './contracts.js';
import { NexusError, toNexusError } from './errors.js';
import { isBackupId, MANIFEST_FILE, type Manifest, parseManifest, serializeManifest } from './manifest.js';

/** A complete backup: its manifest was read and parsed. */
export interface BackupEntry {
  pipeline: string;
  id: string;
  time: Date;
  manifest: Manifest;
  /** Total stored bytes of the backup's objects (artifacts and manifest) as the destination lists them. */
  storedBytes: number;
}

/** Objects of a backup folder without a manifest: a crashed or running backup. Never counted as a backup. */
export interface BackupLeftover {
  pipeline: string;
  id: string;
  keys: string[];
  newest: Date;
}

/** A backup folder whose manifest exists but cannot be read or parsed. */
export interface UnreadableBackup {
  pipeline: string;
  id: string;
  error: NexusError;
}

export interface RepositoryScan {
  backups: BackupEntry[];
  leftovers: BackupLeftover[];
  unreadable: UnreadableBackup[];
}

/**
 * The repository format of DESIGN.md on top of any Destination:
 * `<pipeline>/<backup-id>/<artifact><ext...>` plus `<pipeline>/<backup-id>/manifest.json`, written last.
 */
export class Repository {
  constructor(
    readonly destination: Destination,
    /** How the user named it: a config name or the URL without secrets. */
    readonly label: string = destination.location,
  ) {}

  key(pipeline: string, id: string, file: string): string {
    return `${pipeline}/${id}/${file}`;
  }

  /** Every backup folder under the repository (or one pipeline), sorted oldest first. */
  async scan(ctx: RunContext, pipeline?: string): Promise<RepositoryScan> {
    const folders = new Map<
      string,
      { pipeline: string; id: string; keys: string[]; bytes: number; newest: Date }
    >();
    for await (const object of this.destination.list(pipeline ? `${pipeline}/` : '', ctx)) {
      const parts = object.key.split('/');
      if (parts.length !== 3) continue; // not ours: the format has exactly pipeline/id/file
      const [pipelineName, id] = parts as [string, string, string];
      if (!isBackupId(id)) continue;
      const folderKey = `${pipelineName}/${id}`;
      const folder = folders.get(folderKey) ?? {
        pipeline: pipelineName,
        id,
        keys: [],
        bytes: 0,
        newest: object.modified,
      };
      folder.keys.push(object.key);
      folder.bytes += object.bytes;
      if (object.modified > folder.newest) folder.newest = object.modified;
      folders.set(folderKey, folder);
    }
    const scan: RepositoryScan = { backups: [], leftovers: [], unreadable: [] };
    for (const folder of folders.values()) {
      if (!folder.keys.includes(this.key(folder.pipeline, folder.id, MANIFEST_FILE))) {
        scan.leftovers.push({
          pipeline: folder.pipeline,
          id: folder.id,
          keys: folder.keys,
          newest: folder.newest,
        });
        continue;
      }
      try {
        const manifest = await this.readManifest(folder.pipeline, folder.id, ctx);
        scan.backups.push({
          pipeline: folder.pipeline,
          id: folder.id,
          time: new Date(manifest.startedAt),
          manifest,
          storedBytes: folder.bytes,
        });
      } catch (error) {
        scan.unreadable.push({
          pipeline: folder.pipeline,
          id: folder.id,
          error: toNexusError(error, 'INTEGRITY'),
        });
      }
    }
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    // Ids have one-second resolution; two backups in the same second are ordered by their manifests'
    // millisecond start times, so `@latest` is really the latest.
    scan.backups.sort((a, b) => a.time.getTime() - b.time.getTime() || byId(a, b));
    scan.leftovers.sort(byId);
    scan.unreadable.sort(byId);
    return scan;
  }

  async readManifest(pipeline: string, id: string, ctx: RunContext): Promise<Manifest> {
    const key = this.key(pipeline, id, MANIFEST_FILE);
    const body = await this.destination.get(key, ctx);
    const manifest = parseManifest(await text(body), `${this.label}/${key}`);
    if (manifest.id !== id || manifest.pipeline !== pipeline) {
      throw new NexusError(
        'INTEGRITY',
        `manifest ${this.label}/${key} belongs to ${manifest.pipeline}@${manifest.id}`,
      );
    }
    return manifest;
  }

  async writeManifest(manifest: Manifest, ctx: RunContext): Promise<void> {
    const key = this.key(manifest.pipeline, manifest.id, MANIFEST_FILE);
    await this.destination.put(key, Readable.from([Buffer.from(serializeManifest(manifest))]), ctx);
  }

  /**
   * Finds one backup by `PIPELINE`, `PIPELINE@latest`, `PIPELINE@ID` or `@ID`; without a pipeline the
   * repository must hold exactly one pipeline.
   */
  async find(selector: string | undefined, ctx: RunContext): Promise<BackupEntry> {
    const [pipelinePart, idPart = 'latest'] = (selector ?? '').split('@') as [string, string | undefined];
    const scan = await this.scan(ctx, pipelinePart || undefined);
    let candidates = scan.backups;
    if (!pipelinePart) {
      const pipelines = [...new Set(candidates.map((backup) => backup.pipeline))];
      if (pipelines.length > 1 && idPart === 'latest') {
        throw new NexusError('USAGE', `${this.label} holds several pipelines (${pipelines.join(', ')})`, {
          hint: 'name one, e.g. `restore database@latest`',
        });
      }
    }
    if (idPart !== 'latest') candidates = candidates.filter((backup) => backup.id === idPart);
    const found = candidates.at(-1);
    if (found) return found;
    const unreadable = scan.unreadable.find((backup) => idPart === 'latest' || backup.id === idPart);
    if (unreadable && idPart !== 'latest') throw unreadable.error;
    const what = `${pipelinePart || '(any pipeline)'}@${idPart}`;
    throw new NexusError('NOT_FOUND', `no complete backup ${what} in ${this.label}`, {
      hint: `see what exists with: nexus-backup list --from ${this.label}`,
    });
  }

  /** Removes the manifest first, so a half-finished delete leaves a leftover, never a broken backup. */
  async deleteBackup(pipeline: string, id: string, ctx: RunContext): Promise<void> {
    const keys: string[] = [];
    for await (const object of this.destination.list(`${pipeline}/${id}/`, ctx)) keys.push(object.key);
    const manifestKey = this.key(pipeline, id, MANIFEST_FILE);
    await this.destination.delete([manifestKey], ctx);
    await this.destination.delete(
      keys.filter((key) => key !== manifestKey),
      ctx,
    );
  }

  async deleteKeys(keys: string[], ctx: RunContext): Promise<void> {
    if (keys.length > 0) await this.destination.delete(keys, ctx);
  }
}
