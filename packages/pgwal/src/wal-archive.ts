import type { Repository, RunContext } from '@nexus-backup/core';
import { parseWalFileName, segmentNumber, type WalFileName } from './wal-names.js';
import { markerName, walPrefix } from './wal-object.js';

export interface ArchivedWalFile extends WalFileName {
  /** Keys of its objects: the stored bytes, then the marker (delete in reverse to stay consistent). */
  keys: string[];
  /** When the marker was written. */
  modified: Date;
}

export interface WalArchiveListing {
  /** Files with a marker and stored bytes: what `wal fetch` returns. */
  files: ArchivedWalFile[];
  /** Stored bytes without a marker (a push killed mid-way) or a marker without bytes. */
  incomplete: string[];
}

/** One listing of a WAL pipeline's folder. */
export async function listWalArchive(
  repository: Repository,
  pipeline: string,
  ctx: RunContext,
): Promise<WalArchiveListing> {
  const markers = new Map<string, { key: string; modified: Date }>();
  const dataKeys: string[] = [];
  for await (const object of repository.destination.list(walPrefix(pipeline), ctx)) {
    const name = markerName(object.key, pipeline);
    if (name !== undefined) markers.set(name, { key: object.key, modified: object.modified });
    else dataKeys.push(object.key);
  }
  const dataByName = new Map<string, string[]>();
  const incomplete: string[] = [];
  for (const key of dataKeys) {
    const file = key.slice(walPrefix(pipeline).length);
    const name = matchName(file, markers);
    if (name === undefined) incomplete.push(key);
    else dataByName.set(name, [...(dataByName.get(name) ?? []), key]);
  }
  const files: ArchivedWalFile[] = [];
  for (const [name, marker] of markers) {
    const parsed = parseWalFileName(name);
    const data = dataByName.get(name);
    if (!parsed || !data) {
      incomplete.push(marker.key);
      continue;
    }
    files.push({ ...parsed, keys: [...data, marker.key], modified: marker.modified });
  }
  files.sort((a, b) => a.name.localeCompare(b.name));
  return { files, incomplete };
}

/** `000000010000000000000003.gz.aes` belongs to `000000010000000000000003` (the longest marker name that prefixes it). */
function matchName(file: string, markers: Map<string, unknown>): string | undefined {
  const parts = file.split('.');
  for (let count = parts.length; count >= 1; count -= 1) {
    const candidate = parts.slice(0, count).join('.');
    if (markers.has(candidate)) return candidate;
  }
  return undefined;
}

export function segmentOf(file: WalFileName, segmentBytes: number): number | undefined {
  return file.segment ? segmentNumber(file.segment, segmentBytes) : undefined;
}
