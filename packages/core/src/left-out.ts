import type { Json } from './contracts.js';
import type { Manifest } from './manifest.js';

/**
 * A source that could not back up everything, and was allowed to go on, lists what it left out in its
 * artifact's `meta.leftOut` (`{ kind, name }` each). Such a backup is a warning, never a clean 0, and
 * list, verify and restore say what is missing.
 */
export interface LeftOut {
  artifact: string;
  kind: string;
  name: string;
}

export function leftOutOf(artifact: string, meta: { [key: string]: Json } | undefined): LeftOut[] {
  const left = meta?.leftOut;
  if (!Array.isArray(left)) return [];
  return left.map((gap) =>
    gap !== null && typeof gap === 'object' && !Array.isArray(gap)
      ? { artifact, kind: String(gap.kind), name: String(gap.name) }
      : { artifact, kind: 'object', name: String(gap) },
  );
}

/** Everything a backup left out, over all its artifacts. */
export function manifestLeftOut(manifest: Manifest): LeftOut[] {
  return manifest.artifacts.flatMap((artifact) => leftOutOf(artifact.name, artifact.meta));
}

/** One warning per artifact that left something out, naming each object. */
export function incompleteWarnings(artifact: string, meta: { [key: string]: Json } | undefined): string[] {
  const left = leftOutOf(artifact, meta);
  if (left.length === 0) return [];
  const names = left.map((gap) => `${gap.kind} ${gap.name}`);
  return [`${artifact} is incomplete, ${names.length} object(s) not backed up: ${names.join('; ')}`];
}
