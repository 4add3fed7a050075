import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesBackupsInOrder, runCli, tempDir } from './helpers/cli.js';

/** A mirror must not look complete when a backup of its source could not be read. */

let work: string;
const source = () => join(work, 'source');
const target = () => join(work, 'target');
const ids: string[] = [];

beforeAll(async () => {
  work = await tempDir('mirror-damaged');
  ids.push(...(await filesBackupsInOrder(work, source())));
  const first = await runCli(['mirror', source(), target()]);
  expect(first.code, first.stderr).toBe(0);
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('mirror from a repository with an unreadable manifest', () => {
  it('fails (exit 2) naming the manifest, and --delete keeps the good copy the target already has', async () => {
    const newest = ids[1] as string;
    const manifest = join(source(), 'files', newest, 'manifest.json');
    await writeFile(manifest, '{ "format": "nexus-backup-manif');
    const result = await runCli(['mirror', source(), target(), '--delete']);
    expect(result.code).toBe(2);
    expect(result.stdout).toContain(`failed files/${newest}: manifest ${manifest} is not valid JSON`);
    expect(result.stdout).toContain('skipped 0, failed 1');
    const listed = await runCli(['list', '--from', target(), '--json']);
    expect(JSON.parse(listed.stdout).backups.map((backup: { id: string }) => backup.id)).toEqual(ids);
    const verified = await runCli(['verify', '--from', target()]);
    expect(verified.code, verified.stderr).toBe(0);
  });
});
