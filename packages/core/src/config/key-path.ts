import type { Document, LineCounter, Node } from 'yaml';
import { yamlLibrary } from './yaml-library.js';

/** Where a value sits in the config: `['pipelines', 'db', 'transforms', 0]`. */
export type KeyPath = readonly (string | number)[];

/** `pipelines.db.transforms[0]`; keys that are not plain words are quoted. */
export function formatKeyPath(path: KeyPath): string {
  return path
    .map((segment, index) => {
      if (typeof segment === 'number') return `[${segment}]`;
      const plain = /^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment);
      return index === 0 ? plain : `.${plain}`;
    })
    .join('');
}

/** A problem with one config value; loadConfig turns it into a NexusError with the file position. */
export class ConfigKeyError extends Error {
  readonly keyPath: KeyPath;
  readonly detail: string;

  constructor(keyPath: KeyPath, detail: string, options?: { cause?: unknown }) {
    super(keyPath.length === 0 ? detail : `${formatKeyPath(keyPath)}: ${detail}`, options);
    this.name = 'ConfigKeyError';
    this.keyPath = keyPath;
    this.detail = detail;
  }
}

/**
 * Line and column (1-based) of the deepest node of `path` that exists in the parsed document: the key
 * when the path ends at a map entry, so an unknown key points at itself.
 */
export function locateKeyPath(
  document: Document,
  lineCounter: LineCounter,
  path: KeyPath,
): { line: number; col: number } | undefined {
  const { isMap, isScalar, isSeq } = yamlLibrary();
  let node: unknown = document.contents;
  let found: Node | undefined = isScalar(node) || isMap(node) || isSeq(node) ? node : undefined;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (!pair) break;
      found = isScalar(pair.key) ? pair.key : found;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      const item = node.items[segment];
      if (!item) break;
      found = isScalar(item) || isMap(item) || isSeq(item) ? item : found;
      node = item;
    } else {
      break;
    }
  }
  const offset = found?.range?.[0];
  return offset === undefined ? undefined : lineCounter.linePos(offset);
}
