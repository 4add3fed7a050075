import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Destination, RunContext, StoredObject } from '@nexus-backup/core';
import { collectStream } from '@nexus-backup/testkit';

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Writes a backup the way core does: artifacts first, then a manifest listing their stored size and SHA-256. */
export async function writeBackup(
  destination: Destination,
  ctx: RunContext,
  backup: string,
  artifacts: Record<string, Buffer> = {
    'database.sql.gz': randomBytes(96 * 1024),
    'credentials.tar.aes': randomBytes(2000),
  },
): Promise<void> {
  const [pipeline, id] = backup.split('/') as [string, string];
  for (const [file, data] of Object.entries(artifacts)) {
    await destination.put(`${backup}/${file}`, Readable.from([data]), ctx);
  }
  const manifest = {
    format: 'nexus-backup-manifest',
    version: 1,
    id,
    pipeline,
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    host: 'backup-host',
    tool: { name: 'nexus-backup', version: '0.1.0' },
    source: { provider: 'files', version: '0.1.0', description: {} },
    // fields a mirror must carry over without understanding them
    transforms: [{ provider: 'gzip', version: '0.1.0', extension: '.gz', params: { level: 6 } }],
    artifacts: Object.entries(artifacts).map(([file, data]) => ({
      name: file.split('.')[0],
      file,
      stored: { bytes: data.length, sha256: sha256(data) },
      raw: { bytes: data.length * 3, sha256: sha256(Buffer.concat([data, data, data])) },
      meta: {},
    })),
  };
  await destination.put(
    `${backup}/manifest.json`,
    Readable.from([Buffer.from(JSON.stringify(manifest, null, 2))]),
    ctx,
  );
}

/** Every object of a repository with its content hash, for comparing two sides. */
export async function snapshot(destination: Destination, ctx: RunContext): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const objects: StoredObject[] = [];
  for await (const object of destination.list('', ctx)) objects.push(object);
  for (const object of objects.sort((a, b) => a.key.localeCompare(b.key))) {
    result[object.key] = sha256(await collectStream(await destination.get(object.key, ctx)));
  }
  return result;
}

/** Wraps a destination to record the order of puts (the target is still the real SFTP server). */
export function recordingPuts(destination: Destination): { destination: Destination; puts: string[] } {
  const puts: string[] = [];
  return {
    puts,
    destination: {
      ...destination,
      location: destination.location,
      list: (prefix, ctx) => destination.list(prefix, ctx),
      get: (key, ctx) => destination.get(key, ctx),
      delete: (keys, ctx) => destination.delete(keys, ctx),
      close: () => destination.close?.() ?? Promise.resolve(),
      put: async (key, body, ctx) => {
        const result = await destination.put(key, body, ctx);
        puts.push(key);
        return result;
      },
    },
  };
}
