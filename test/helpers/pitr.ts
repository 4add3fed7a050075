import { execFileSync, spawnSync } from 'node:child_process';
import { chmod, copyFile, mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { PostgresServer } from '@nexus-backup/testkit/postgres';
import { CLI_BIN, tempDir } from './cli.js';

/**
 * A temp folder the PostgreSQL server's user can use too: archive_command and restore_command run as
 * that user (`nobody` when the tests run as root), so the repository, the restored data directory and
 * the node binary must be reachable by it.
 */
export interface PitrWorkspace {
  dir: string;
  /** A local repository folder the server's user owns (the CLI runs as root in tests, wal push does not). */
  repo: string;
  /** `archive_command`/`restore_command` prefix: node + the built CLI, runnable by the server's user. */
  cli: string;
  remove(): Promise<void>;
}

export async function pitrWorkspace(): Promise<PitrWorkspace> {
  const dir = await tempDir('pitr');
  await chmod(dir, 0o755);
  let node = process.execPath;
  const identity = serverIdentity();
  if (identity && spawnSync(node, ['--version'], identity).status !== 0) {
    // Node under /root is out of the server user's reach: a private copy in the workspace is not.
    node = join(dir, 'node');
    await copyFile(process.execPath, node);
    await chmod(node, 0o755);
  }
  const repo = join(dir, 'backups');
  await mkdir(repo, { mode: 0o700 });
  if (identity) execFileSync('chown', [`${identity.uid}:${identity.gid}`, dir, repo]);
  return { dir, repo, cli: `${node} ${CLI_BIN}`, remove: () => rm(dir, { recursive: true, force: true }) };
}

function serverIdentity(): { uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const id = (flag: string) => Number(execFileSync('id', [flag, 'nobody'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}

/** Forces the current WAL segment out and waits until the archiver has pushed it (or fails with its error). */
export async function switchAndWaitArchived(server: PostgresServer): Promise<string> {
  // A WAL record first: with nothing written since the last switch, pg_switch_wal is a no-op and the
  // name it returns is of a segment that is not finished yet, so the wait below would never end.
  await server.admin.query("SELECT pg_logical_emit_message(false, 'nexus-backup-test', 'switch')");
  const { rows } = await server.admin.query<{ name: string }>(
    'SELECT pg_walfile_name(pg_switch_wal()) AS name',
  );
  const name = rows[0]?.name as string;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (Date.now() > deadline) throw new Error(`${name} was not archived within 90 s`);
    const status = await server.admin.query<{ last: string | null; failed: string | null; failures: string }>(
      'SELECT last_archived_wal AS last, last_failed_wal AS failed, failed_count::text AS failures FROM pg_stat_archiver',
    );
    const row = status.rows[0];
    if (row?.last && row.last >= name) return name;
    if (row?.failed && Number(row.failures) >= 3)
      throw new Error(`archive_command keeps failing on ${row.failed}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
