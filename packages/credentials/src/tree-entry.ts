import type { Stats } from 'node:fs';

/** One file-system entry selected for a backup, addressed by its `/`-separated path relative to the base. */
export interface TreeEntry {
  path: string;
  kind: 'file' | 'directory' | 'symlink';
  /** Content bytes; 0 for directories and symlinks. */
  size: number;
  /** lstat, or stat when following symlinks: what the tar header is written from. */
  stats: Stats;
}

export interface TreeSummary {
  entries: TreeEntry[];
  files: number;
  bytes: number;
}

export function summarize(entries: TreeEntry[]): TreeSummary {
  let files = 0;
  let bytes = 0;
  for (const entry of entries) {
    if (entry.kind === 'directory') continue;
    files += 1;
    bytes += entry.size;
  }
  return { entries, files, bytes };
}

/**
 * Approximate tar size for progress: a 512-byte header per entry (plus a pax header for long or
 * non-ASCII names), content padded to 512 bytes, and the two zero blocks at the end.
 */
export function estimateTarBytes(entries: TreeEntry[]): number {
  let total = 1024;
  for (const entry of entries) {
    total += 512 + Math.ceil(entry.size / 512) * 512;
    if (Buffer.byteLength(entry.path) >= 100 || !/^[\x20-\x7e]*$/.test(entry.path)) total += 1024;
  }
  return total;
}
