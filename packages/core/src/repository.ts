import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { Destination, RunContext, StoredObject } from './contracts.js';
import { NexusError, toNexusError } from './errors.js';
import {
  backupIdTime,
  isBackupId,
  MANIFEST_FILE,
  type Manifest,
  parseManifest,
  serializeManifest,
} from './manifest.js';

/** A backup whose manifest was read and parsed and whose artifacts are all listed at their recorded sizes. */
export interface BackupEntry {
  pipeline: string;
  id: string;
  /** The manifest's start time, bounded by its objects' modified times (see `timeWarning`). */
  time: Date;
  manifest: Manifest;
  /** Total stored bytes of the backup's objects (artifacts and manifest) as the destination lists them. */
  storedBytes: number;
  /** Set when the manifest's start time was not believed (in the future, or after its objects were written). */
  timeWarning?: string;
}

/** A manifest whose artifacts are missing or have another size than recorded: never counted, never restored. */
export interface DamagedBackup extends BackupEntry {
  /** One line per artifact, e.g. `database.sql.gz is missing`. */
  problems: string[];
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
  /** Intact backups only, oldest first. */
  backups: BackupEntry[];
  damaged: DamagedBackup[];
  leftovers: BackupLeftover[];
  unreadable: UnreadableBackup[];
}

/** A newer backup `@latest` passed over, and why. */
export interface SkippedBackup {
  id: string;
  reason: string;
}

/**
 * How far a manifest's start may lie after its objects' modified times (or after now) before it is not
 * believed: covers clock skew between the backup host and the store (S3 stamps objects with its own clock).
 */
export const MANIFEST_TIME_TOLERANCE_MS = 10 * 60_000;

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

  /**
   * Every backup folder under the repository (or one pipeline), sorted oldest first, from ONE listing:
   * each manifest's artifacts are checked against the listed objects (present, recorded size), so a
   * backup is only counted when its bytes are there. `.leases/` and other keys outside the format are ignored.
   */
  async scan(ctx: RunContext, pipeline?: string): Promise<RepositoryScan> {
    const now = new Date();
    const folders = new Map<string, { pipeline: string; id: string; objects: Map<string, StoredObject> }>();
    for await (const object of this.destination.list(pipeline ? `${pipeline}/` : '', ctx)) {
      const parts = object.key.split('/');
      if (parts.length !== 3) continue; // not ours: the format has exactly pipeline/id/file
      const [pipelineName, id, file] = parts as [string, string, string];
      if (!isBackupId(id)) continue; // `.leases` and anything else that is not a backup folder
      const folderKey = `${pipelineName}/${id}`;
      const folder = folders.get(folderKey) ?? { pipeline: pipelineName, id, objects: new Map() };
      folder.objects.set(file, object);
      folders.set(folderKey, folder);
    }
    const scan: RepositoryScan = { backups: [], damaged: [], leftovers: [], unreadable: [] };
    for (const folder of folders.values()) {
      const objects = [...folder.objects.values()];
      if (!folder.objects.has(MANIFEST_FILE)) {
        scan.leftovers.push({
          pipeline: folder.pipeline,
          id: folder.id,
          keys: objects.map((object) => object.key),
          newest: new Date(Math.max(...objects.map((object) => object.modified.getTime()))),
        });
        continue;
      }
      let manifest: Manifest;
      try {
        manifest = await this.readManifest(folder.pipeline, folder.id, ctx);
      } catch (error) {
        scan.unreadable.push({
          pipeline: folder.pipeline,
          id: folder.id,
          error: toNexusError(error, 'INTEGRITY'),
        });
        continue;
      }
      const entry: BackupEntry = {
        pipeline: folder.pipeline,
        id: folder.id,
        ...boundedTime(manifest, folder.objects, now),
        manifest,
        storedBytes: objects.reduce((total, object) => total + object.bytes, 0),
      };
      const problems = artifactProblems(manifest, folder.objects);
      if (problems.length > 0) scan.damaged.push({ ...entry, problems });
      else scan.backups.push(entry);
    }
    const byId = (a: { id: string }, b: { id: string }) => a.id.localeCompare(b.id);
    // Ids have one-second resolution; two backups in the same second are ordered by their manifests'
    // millisecond start times, so `@latest` is really the latest.
    const byTime = (a: BackupEntry, b: BackupEntry) => a.time.getTime() - b.time.getTime() || byId(a, b);
    scan.backups.sort(byTime);
    scan.damaged.sort(byTime);
    scan.leftovers.sort(byId);
    scan.unreadable.sort(byId);
    return scan;
  }

  /** The pipelines with any object (a backup, a leftover or a lease), from one listing. */
  async pipelines(ctx: RunContext): Promise<string[]> {
    const names = new Set<string>();
    for await (const object of this.destination.list('', ctx)) {
      const slash = object.key.indexOf('/');
      if (slash > 0) names.add(object.key.slice(0, slash));
    }
    return [...names].sort();
  }

  async readManifest(pipeline: string, id: string, ctx: RunContext): Promise<Manifest> {
    return (await this.readManifestBytes(pipeline, id, ctx)).manifest;
  }

  /** The manifest parsed from exactly the returned bytes: a mirror copies those bytes unchanged. */
  async readManifestBytes(
    pipeline: string,
    id: string,
    ctx: RunContext,
  ): Promise<{ manifest: Manifest; bytes: Buffer }> {
    const key = this.key(pipeline, id, MANIFEST_FILE);
    const bytes = await buffer(await this.destination.get(key, ctx));
    const manifest = parseManifest(bytes.toString('utf8'), `${this.label}/${key}`);
    if (manifest.id !== id || manifest.pipeline !== pipeline) {
      throw new NexusError(
        'INTEGRITY',
        `manifest ${this.label}/${key} belongs to ${manifest.pipeline}@${manifest.id}`,
      );
    }
    return { manifest, bytes };
  }

  async writeManifest(manifest: Manifest, ctx: RunContext): Promise<void> {
    const key = this.key(manifest.pipeline, manifest.id, MANIFEST_FILE);
    await this.destination.put(key, Readable.from([Buffer.from(serializeManifest(manifest))]), ctx);
  }

  /**
   * Finds one backup by `PIPELINE`, `PIPELINE@latest`, `PIPELINE@ID` or `@ID`; without a pipeline the
   * repository must hold exactly one pipeline. A damaged backup is never returned.
   */
  async find(selector: string | undefined, ctx: RunContext): Promise<BackupEntry> {
    return (await this.select(selector, ctx)).backup;
  }

  /**
   * Like `find`, and for `@latest` also names every newer backup it passed over (damaged or
   * unreadable), so a caller never falls back to an older backup silently.
   */
  async select(
    selector: string | undefined,
    ctx: RunContext,
  ): Promise<{ backup: BackupEntry; skipped: SkippedBackup[] }> {
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
    if (idPart !== 'latest') {
      const damaged = scan.damaged.find((backup) => backup.id === idPart);
      if (damaged) throw damagedError(this.label, damaged);
      candidates = candidates.filter((backup) => backup.id === idPart);
    }
    const found = candidates.at(-1);
    const skipped = idPart === 'latest' ? newerBroken(scan, found) : [];
    if (found) return { backup: found, skipped };
    const unreadable = scan.unreadable.find((backup) => backup.id === idPart);
    if (unreadable) throw unreadable.error;
    const what = `${pipelinePart || '(any pipeline)'}@${idPart}`;
    const broken = skipped.length > 0 ? `; not usable: ${formatSkipped(skipped)}` : '';
    throw new NexusError(
      skipped.length > 0 ? 'INTEGRITY' : 'NOT_FOUND',
      `no complete backup ${what} in ${this.label}${broken}`,
      { hint: `see what exists with: nexus-backup list --from ${this.label}` },
    );
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

/** `db@20261126T051822Z-3f9a1c (database.sql.gz is missing)`, joined with `; `. */
export function formatSkipped(skipped: readonly SkippedBackup[]): string {
  return skipped.map((backup) => `${backup.id} (${backup.reason})`).join('; ');
}

function damagedError(label: string, backup: DamagedBackup): NexusError {
  return new NexusError(
    'INTEGRITY',
    `backup ${backup.pipeline}@${backup.id} in ${label} is damaged: ${backup.problems.join('; ')}`,
    { hint: `restore another backup; see them with: nexus-backup list ${backup.pipeline} --from ${label}` },
  );
}

/** Damaged or unreadable backups newer than the chosen one (all of them when none was chosen). */
function newerBroken(scan: RepositoryScan, chosen: BackupEntry | undefined): SkippedBackup[] {
  const after = chosen?.time.getTime() ?? Number.NEGATIVE_INFINITY;
  const samePipeline = (pipeline: string) => chosen === undefined || pipeline === chosen.pipeline;
  const skipped: (SkippedBackup & { time: number })[] = [];
  for (const backup of scan.damaged) {
    if (samePipeline(backup.pipeline) && backup.time.getTime() > after)
      skipped.push({
        id: `${backup.pipeline}@${backup.id}`,
        reason: `damaged: ${backup.problems.join(', ')}`,
        time: backup.time.getTime(),
      });
  }
  for (const backup of scan.unreadable) {
    // An id has one-second resolution: one from the chosen backup's own second may be the newer one.
    const time = (backupIdTime(backup.id)?.getTime() ?? Number.POSITIVE_INFINITY) + 999;
    if (samePipeline(backup.pipeline) && time > after)
      skipped.push({
        id: `${backup.pipeline}@${backup.id}`,
        reason: `unreadable: ${backup.error.message}`,
        time,
      });
  }
  return skipped.sort((a, b) => b.time - a.time).map(({ id, reason }) => ({ id, reason }));
}

/** Every artifact of the manifest must be listed at the size it was stored with. */
function artifactProblems(manifest: Manifest, objects: ReadonlyMap<string, StoredObject>): string[] {
  const problems: string[] = [];
  for (const artifact of manifest.artifacts) {
    const object = objects.get(artifact.file);
    if (!object) problems.push(`${artifact.file} is missing`);
    else if (object.bytes !== artifact.stored.bytes)
      problems.push(
        `${artifact.file} is ${object.bytes} bytes, the manifest records ${artifact.stored.bytes}`,
      );
  }
  return problems;
}

/**
 * A backup's objects are written after it starts, so its start cannot lie after them (or after now)
 * beyond clock skew. A manifest that claims so is not believed: it is ordered by its oldest object.
 */
function boundedTime(
  manifest: Manifest,
  objects: ReadonlyMap<string, StoredObject>,
  now: Date,
): { time: Date; timeWarning?: string } {
  const started = new Date(manifest.startedAt);
  const times = [...objects.values()].map((object) => object.modified.getTime());
  const newestObject = Math.max(...times);
  const oldestObject = Math.min(...times);
  const limit = Math.min(newestObject, now.getTime()) + MANIFEST_TIME_TOLERANCE_MS;
  if (started.getTime() <= limit) return { time: started };
  const objectTime = new Date(Math.min(oldestObject, now.getTime()));
  const where = started.getTime() > now.getTime() ? 'in the future' : 'after its objects were written';
  return {
    time: objectTime,
    timeWarning: `manifest start ${manifest.startedAt} lies ${where}; ordered by its objects' time ${objectTime.toISOString()}`,
  };
}
