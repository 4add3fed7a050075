import { lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { OptionValues } from '@nexus-backup/core';
import { credentials, files } from '@nexus-backup/credentials';
import { describeSourceConformance } from '@nexus-backup/testkit';
import { expect } from 'vitest';
import { removeDirs, snapshotTree, tempDir, writeTree } from './tree-fixtures.js';

/** The whole state of a restore target, or `absent` when the restore never created it. */
async function targetState(target: OptionValues): Promise<unknown> {
  const toDir = String(target.toDir);
  const exists = await lstat(toDir).then(
    () => true,
    () => false,
  );
  return exists ? snapshotTree(toDir) : 'absent';
}

const ENV_SECRET = 'postgres://app:hunter2-conformance@db/app';
const KEY_SECRET = 'conformance-private-key-material';

describeSourceConformance('files', async () => {
  const base = await tempDir('conf-files');
  const targets = await tempDir('conf-files-targets');
  await writeTree(base, {
    '.env': { file: `DATABASE_URL=${ENV_SECRET}\n`, mode: 0o600, mtime: new Date('2024-05-01T12:00:00Z') },
    'docker-compose.yml': { file: 'services:\n  app:\n    image: app:1\n' },
    'docker/app/big.bin': { file: Buffer.alloc(300_000, 7) },
    'docker/app/run.sh': { file: '#!/bin/sh\n', mode: 0o755 },
    'docker/empty': { dir: true, mode: 0o700 },
    'docker/latest': { symlink: 'app/run.sh' },
  });
  const source = await files.create({
    paths: ['.env', 'docker-compose.yml', 'docker'],
    baseDir: base,
    followSymlinks: false,
  });
  const expected = await snapshotTree(base);
  let count = 0;
  return {
    source,
    secrets: [ENV_SECRET],
    createTarget: async () => ({ toDir: join(targets, `target-${++count}`), force: false }),
    expectRestored: async (target) => expect(await snapshotTree(String(target.toDir))).toEqual(expected),
    snapshot: targetState,
    teardown: () => removeDirs([base, targets]),
  };
});

describeSourceConformance('credentials', async () => {
  const dir = await tempDir('conf-cred');
  const targets = await tempDir('conf-cred-targets');
  await writeTree(dir, {
    'gcp.credentials.json': { file: JSON.stringify({ private_key: KEY_SECRET }) },
    'stripe.json': { file: '{"key":"sk_test_conformance"}' },
  });
  const source = await credentials.create({ dir, pattern: '*.json', allowPlaintext: false });
  const expected = Object.fromEntries(
    Object.entries(await snapshotTree(dir)).map(([path, entry]) => [path, { ...entry, mode: '600' }]),
  );
  let count = 0;
  return {
    source,
    secrets: [KEY_SECRET, 'sk_test_conformance'],
    createTarget: async () => ({ toDir: join(targets, `target-${++count}`), force: false }),
    expectRestored: async (target) => expect(await snapshotTree(String(target.toDir))).toEqual(expected),
    snapshot: targetState,
    teardown: () => removeDirs([dir, targets]),
  };
});
