import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type Artifact, defaultOptions, type Json, type RunContext } from '@nexus-backup/core';
import { postgres } from '@nexus-backup/postgres';

const run = promisify(execFile);
const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** Runs a SQL file with the machine's psql, stopping at the first error (as users restore). */
export async function psqlFile(url: string, file: string): Promise<void> {
  await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', url, '-f', file], {
    maxBuffer: 64 * 1024 * 1024,
  });
}

/** zoo.sql, then each zoo-<major>.sql for the majors up to the server's. */
export async function loadZoo(url: string, major: number): Promise<void> {
  await loadFixtureSet(url, major, 'zoo');
}

/** `<name>.sql`, then each `<name>-<major>.sql` for the majors up to the server's, oldest first. */
export async function loadFixtureSet(url: string, major: number, name: string): Promise<void> {
  await psqlFile(url, join(fixtures, `${name}.sql`));
  const pattern = new RegExp(`^${name}-(\\d+)\\.sql$`);
  const extras = (await readdir(fixtures))
    .map((file) => pattern.exec(file))
    .flatMap((match) =>
      match && Number(match[1]) <= major ? [{ file: match[0], major: Number(match[1]) }] : [],
    )
    .sort((a, b) => a.major - b.major);
  for (const extra of extras) await psqlFile(url, join(fixtures, extra.file));
}

export type SourceOptions = Parameters<typeof postgres.create>[0];

/** The postgres source with its declared defaults, as the CLI creates it, plus the given options. */
export async function createSource(options: Partial<SourceOptions> & { db: string }) {
  return postgres.create({ ...(defaultOptions(postgres.options) as SourceOptions), ...options });
}

/**
 * Runs the postgres source's backup and writes its artifacts, concatenated in manifest order (one
 * plain SQL script), to a file; returns the pre-data meta with `rows` the union of the data artifacts'.
 */
export async function backupToFile(
  options: Partial<SourceOptions> & { db: string },
  file: string,
  ctx: RunContext,
): Promise<{ meta: { [key: string]: Json }; artifacts: Artifact[] }> {
  const source = await createSource(options);
  const artifacts: Artifact[] = [];
  const out = createWriteStream(file);
  for await (const artifact of source.backup(ctx)) {
    artifacts.push(artifact);
    await pipeline(artifact.stream, out, { end: false });
  }
  await new Promise<void>((resolve, reject) =>
    out.end((error?: Error | null) => (error ? reject(error) : resolve())),
  );
  const [preData, ...rest] = artifacts;
  if (preData?.name !== 'pre-data.sql') throw new Error(`expected pre-data.sql first, got ${preData?.name}`);
  const rows: { [table: string]: Json } = {};
  for (const artifact of rest) Object.assign(rows, artifact.meta?.rows ?? {});
  return { meta: { ...preData.meta, rows }, artifacts };
}
