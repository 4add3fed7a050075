import type { DumpObject } from './model.js';
import { isDataObject } from './write.js';

/** A table at least this large (estimated) gets a data artifact of its own. */
export const OWN_ARTIFACT_BYTES = 8 * 1024 * 1024;
/** Smaller tables share data artifacts of up to about this much (estimated). */
export const GROUP_BYTES = 64 * 1024 * 1024;

/** One data artifact: COPY blocks (or large objects) that one connection writes one after the other. */
export interface DataPart {
  objects: DumpObject[];
  estimatedBytes: number;
  largeObjects: boolean;
}

/**
 * The per-table layout of a dump: pre-data, data artifacts, post-data. Concatenated in this order they
 * are one script that restores exactly like the single script of the ordered objects.
 */
export interface DumpParts {
  preData: DumpObject[];
  data: DataPart[];
  postData: DumpObject[];
}

/**
 * Splits the ordered objects. Pre-data is the leading run of pre-data objects (a pre-data object
 * ordered after a later section's object, e.g. a view grouping by a primary key, stays after it, in
 * post-data); table data and large objects go into data parts; everything else, in order, is post-data.
 * Data parts come largest first (a parallel restore starts the longest work first), large objects
 * last, unless `keepDataOrder` (a data-only dump: a referenced table's rows load before the rows
 * referencing them, so the planned order is kept). The data of a table that is itself created after
 * a post-data object (the dependency order allows it) stays in place in post-data: moved ahead, it
 * would load into a table that does not exist yet.
 */
export function splitDump(
  objects: DumpObject[],
  sizeOf: (object: DumpObject) => number,
  { keepDataOrder }: { keepDataOrder: boolean },
): DumpParts {
  const firstOther = objects.findIndex((object) => object.section !== 'pre-data');
  const preData = firstOther === -1 ? objects : objects.slice(0, firstOther);
  const rest = firstOther === -1 ? [] : objects.slice(firstOther);
  const before = new Set(preData.map((object) => object.key));
  const known = new Set(objects.map((object) => object.key));
  const separable = (object: DumpObject) =>
    isDataObject(object) && object.after.every((key) => before.has(key) || !known.has(key));
  const tables = rest.filter((object) => separable(object) && object.kind === 'table-data');
  const largeObjects = rest.filter((object) => separable(object) && object.kind === 'large-object');
  const postData = rest.filter((object) => !separable(object));
  const data = keepDataOrder ? partsInOrder(tables, sizeOf) : partsLargestFirst(tables, sizeOf);
  if (largeObjects.length > 0) data.push({ objects: largeObjects, estimatedBytes: 0, largeObjects: true });
  return { preData, data, postData };
}

function tablePart(objects: DumpObject[], sizeOf: (object: DumpObject) => number): DataPart {
  const estimatedBytes = objects.reduce((sum, object) => sum + sizeOf(object), 0);
  return { objects, estimatedBytes, largeObjects: false };
}

/** Large tables alone, small ones packed first-fit decreasing into groups; largest part first. */
function partsLargestFirst(tables: DumpObject[], sizeOf: (object: DumpObject) => number): DataPart[] {
  const bySize = [...tables].sort(
    (a, b) => sizeOf(b) - sizeOf(a) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
  const parts: DataPart[] = [];
  const groups: DumpObject[][] = [];
  const groupBytes: number[] = [];
  for (const table of bySize) {
    const size = sizeOf(table);
    if (size >= OWN_ARTIFACT_BYTES) {
      parts.push(tablePart([table], sizeOf));
      continue;
    }
    const fits = groupBytes.findIndex((bytes) => bytes + size <= GROUP_BYTES);
    if (fits === -1) {
      groups.push([table]);
      groupBytes.push(size);
    } else {
      (groups[fits] as DumpObject[]).push(table);
      groupBytes[fits] = (groupBytes[fits] as number) + size;
    }
  }
  parts.push(...groups.map((group) => tablePart(group, sizeOf)));
  // Stable: equal estimates keep the order above.
  return parts.sort((a, b) => b.estimatedBytes - a.estimatedBytes);
}

/** The same size rules, but the tables stay in their planned order across and within the parts. */
function partsInOrder(tables: DumpObject[], sizeOf: (object: DumpObject) => number): DataPart[] {
  const parts: DataPart[] = [];
  let group: DumpObject[] = [];
  let bytes = 0;
  const flush = () => {
    if (group.length > 0) parts.push(tablePart(group, sizeOf));
    group = [];
    bytes = 0;
  };
  for (const table of tables) {
    const size = sizeOf(table);
    if (size >= OWN_ARTIFACT_BYTES) {
      flush();
      parts.push(tablePart([table], sizeOf));
      continue;
    }
    if (group.length > 0 && bytes + size > GROUP_BYTES) flush();
    group.push(table);
    bytes += size;
  }
  flush();
  return parts;
}

/** `data-0001.sql`, ... in manifest order. */
export function dataArtifactName(index: number): string {
  return `data-${String(index + 1).padStart(4, '0')}.sql`;
}
