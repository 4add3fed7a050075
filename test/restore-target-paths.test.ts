import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers/cli.js';

/** Restore targets an operator mistypes: each gets one error naming the path, and nothing is written. */

let work: string;
const repo = () => join(work, 'repo');

beforeAll(async () => {
  work = await tempDir('target-paths');
  await mkdir(join(work, 'src'));
  await writeFile(join(work, 'src', 'a.txt'), 'hello\n');
  const made = await runCli(['backup', 'files', 'src', '--to', repo()], { cwd: work });
  expect(made.code, made.stderr).toBe(0);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('restore --to-dir paths', () => {
  it('a --to-dir under a file is one error naming the target, exit 2, and the file is untouched', async () => {
    const target = join(work, 'src', 'a.txt', 'restored');
    const result = await runCli(['restore', 'files@latest', '--from', repo(), '--to-dir', target]);
    expect(result.code).toBe(2);
    expect(result.stderr.trim()).toBe(
      `error: [files] restore target ${target} lies under a file, not a folder; pass a --to-dir whose parent folders are folders`,
    );
    expect(await readFile(join(work, 'src', 'a.txt'), 'utf8')).toBe('hello\n');
    expect(await readdir(join(work, 'src'))).toEqual(['a.txt']);
  });

  it('a --to-dir with spaces, unicode and missing parent folders is created and restored into', async () => {
    const target = join(work, 'dir with spaces', 'ünï cödé', 'out');
    const result = await runCli(['restore', 'files@latest', '--from', repo(), '--to-dir', target]);
    expect(result.code, result.stderr).toBe(0);
    expect(await readFile(join(target, 'src', 'a.txt'), 'utf8')).toBe('hello\n');
  });
});
