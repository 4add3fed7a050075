import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * vitest globalSetup: every temp folder of the run (tests' mkdtemp, the testkit's servers, the CLI
 * child processes, which inherit TMPDIR) goes under one private folder that is removed when the run
 * ends, so the suite leaves nothing in /tmp even where a test forgets its cleanup or fails midway.
 * The testkit keeps its cross-run cache of PostgreSQL binaries in the real temp folder
 * (NEXUS_TEST_SHARED_TMPDIR) on purpose.
 */
export default async function setup(): Promise<() => Promise<void>> {
  const shared = tmpdir();
  const root = await mkdtemp(join(shared, 'nexus-test-run-'));
  // Traversable, not listable: PostgreSQL runs as an unprivileged user when the tests run as root.
  await chmod(root, 0o711);
  process.env.NEXUS_TEST_SHARED_TMPDIR ??= shared;
  process.env.TMPDIR = root;
  return async () => {
    await rm(root, { recursive: true, force: true });
  };
}
