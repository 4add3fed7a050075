import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { ConfigKeyError, type KeyPath } from './key-path.js';

/** `s3://bucket/prefix`, `sftp://host/path`, `file:///path`: anything with a scheme and `//`. */
export function isUrl(text: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
}

/** A filesystem path as opposed to a repository or package name: `/x`, `./x`, `../x`, `~/x`, `x/y`. */
export function looksLikePath(text: string): boolean {
  return (
    isAbsolute(text) || text === '.' || text === '..' || /^(\.{1,2}|~)[/\\]/.test(text) || text.includes('/')
  );
}

/**
 * URLs stay as written; paths become absolute, relative ones against the config file's directory
 * (so a config works the same from any working directory) and `~/` against the home directory.
 */
export function resolveLocation(text: string, baseDir: string, home: string = homedir()): string {
  if (isUrl(text)) return text;
  if (/^~[/\\]/.test(text)) return resolve(home, text.slice(2));
  return resolve(baseDir, text);
}

/** A repository URL must at least parse; what its scheme accepts is checked by the destination. */
export function checkLocation(location: string, resolveAt: (text: string) => string, path: KeyPath): string {
  if (isUrl(location) && !URL.canParse(location)) {
    throw new ConfigKeyError(path, 'is not a valid URL; write e.g. s3://bucket/prefix?region=eu-west-1');
  }
  return resolveAt(location);
}
