import { copyFile, readdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PostgresServer } from '@nexus-backup/testkit/postgres';
import { psqlFile } from './dump-support.js';

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/**
 * Copies the test extension (fixtures/nexus_kinds_ext) into the server's extension directory (that of
 * the major's binaries, shared by every server of that major) and returns what removes it again.
 */
export async function installKindsExtension(server: PostgresServer): Promise<() => Promise<void>> {
  const { rows } = await server.admin.query<{ setting: string }>(
    "SELECT setting FROM pg_config WHERE name = 'SHAREDIR'",
  );
  const shareDir = rows[0]?.setting;
  if (!shareDir) throw new Error('the server did not say where its share directory is');
  const source = join(fixtures, 'nexus_kinds_ext');
  const installed: string[] = [];
  for (const file of await readdir(source)) {
    const target = join(shareDir, 'extension', file);
    await copyFile(join(source, file), target);
    installed.push(target);
  }
  return async () => {
    for (const target of installed) await rm(target, { force: true });
  };
}

/**
 * data-kinds.sql, then each data-kinds-<major>.sql for the majors up to the server's; returns what
 * removes the test extension's files once the test is done with the server.
 */
export async function loadDataKinds(server: PostgresServer, url: string): Promise<() => Promise<void>> {
  const uninstall = await installKindsExtension(server);
  await psqlFile(url, join(fixtures, 'data-kinds.sql'));
  const extras = (await readdir(fixtures))
    .flatMap((name) => {
      const match = /^data-kinds-(\d+)\.sql$/.exec(name);
      return match && Number(match[1]) <= server.major ? [{ file: name, major: Number(match[1]) }] : [];
    })
    .sort((a, b) => a.major - b.major);
  for (const extra of extras) await psqlFile(url, join(fixtures, extra.file));
  return uninstall;
}
