import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { RestoreArtifact, RunContext, Source } from '@nexus-backup/core';
import { files } from '@nexus-backup/credentials';
import { createMemoryProbe, createTestContext, isAbortLike, sampleEvery } from '@nexus-backup/testkit';
import { describe, expect, it } from 'vitest';
import { snapshotTree, tempDirsPerTest, writeTree } from './tree-fixtures.js';

const MiB = 1024 * 1024;
const dirs = tempDirsPerTest();

/** Varied bytes (not zeros), written in 1 MiB chunks so the test itself holds little. */
async function writeLargeFile(path: string, bytes: number): Promise<void> {
  await mkdir(join(path, '..'), { recursive: true });
  async function* chunks() {
    for (let offset = 0; offset < bytes; offset += MiB) {
      yield createHash('sha512')
        .update(String(offset))
        .digest()
        .toString('hex')
        .repeat(MiB / 128);
    }
  }
  await pipeline(chunks, createWriteStream(path));
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/** Passes each chunk on a moment late: a consumer slower than the disk, so the producer has to wait. */
function slowCounter(onBytes: (total: number) => void): Transform {
  let total = 0;
  return new Transform({
    highWaterMark: 64 * 1024,
    transform(chunk: Buffer, _encoding, callback) {
      total += chunk.length;
      onBytes(total);
      setTimeout(() => callback(null, chunk), 1);
    },
  });
}

/** Hands each backup artifact straight to restore as it is produced: nothing is stored in between. */
async function* relay(source: Source, ctx: RunContext, wrap: (stream: Readable) => Readable) {
  for await (const artifact of source.backup(ctx)) {
    const restoreArtifact: RestoreArtifact = {
      name: artifact.name,
      stream: wrap(artifact.stream),
      rawBytes: artifact.expectedBytes ?? 0,
      meta: artifact.meta ?? {},
    };
    yield restoreArtifact;
  }
}

/** Paths under `dir` this process holds open (Linux /proc). */
async function openFilesUnder(dir: string): Promise<string[]> {
  const targets = await Promise.all(
    (await readdir('/proc/self/fd')).map((fd) => readlink(`/proc/self/fd/${fd}`).catch(() => '')),
  );
  return targets.filter((target) => target.startsWith(dir));
}

function through(stream: Readable, transform: Transform): Readable {
  stream.on('error', (error) => transform.destroy(error));
  return stream.pipe(transform);
}

describe('files source streaming', () => {
  it('streams a 32 MiB file from backup straight into restore with retained memory growth under 12 MiB', async () => {
    const [base, out] = await dirs('stream-base', 'stream-out');
    await writeLargeFile(join(base!, 'data/big.bin'), 32 * MiB);
    await writeTree(base!, { 'data/small.txt': { file: 'small' } });
    const source = await files.create({ paths: ['data'], baseDir: base!, followSymlinks: false });
    const ctx = createTestContext();

    const probe = createMemoryProbe();
    const sample = sampleEvery(probe, 2 * MiB);
    let streamed = 0;
    const target = join(out!, 'restored');
    await source.restore(
      ctx,
      relay(source, ctx, (stream) =>
        through(
          stream,
          slowCounter((total) => {
            streamed = total;
            sample(total);
          }),
        ),
      ),
      { toDir: target, force: false },
    );

    expect(streamed).toBeGreaterThan(32 * MiB);
    expect(probe.peakGrowth()).toBeLessThan(12 * MiB);
    expect(await sha256(join(target, 'data/big.bin'))).toBe(await sha256(join(base!, 'data/big.bin')));
  });

  it('an abort during restore rejects with an abort error and leaves the target as it was', async () => {
    const [base, out] = await dirs('abort-base', 'abort-out');
    await writeLargeFile(join(base!, 'data/big.bin'), 4 * MiB);
    await writeTree(out!, { 'keep.txt': { file: 'keep' } });
    const before = await snapshotTree(out!);
    const source = await files.create({ paths: ['data'], baseDir: base!, followSymlinks: false });
    const controller = new AbortController();
    const ctx = createTestContext({ signal: controller.signal });

    const error = await source
      .restore(
        ctx,
        relay(source, ctx, (stream) =>
          through(
            stream,
            slowCounter((total) => {
              if (total > MiB) controller.abort();
            }),
          ),
        ),
        { toDir: out!, force: false },
      )
      .catch((e: unknown) => e);

    expect(isAbortLike(error), `expected an abort error, got ${String(error)}`).toBe(true);
    expect(await snapshotTree(out!)).toEqual(before);
    const leftovers = (await readdir(dirname(out!))).filter((name) =>
      name.startsWith(`.${basename(out!)}.nexus-restore-`),
    );
    expect(leftovers).toEqual([]);
  });

  it('an abort during backup destroys the artifact stream with an abort error and closes the file it read', async () => {
    const [base] = await dirs('abort-backup');
    await writeLargeFile(join(base!, 'big.bin'), 4 * MiB);
    const source = await files.create({ paths: ['big.bin'], baseDir: base!, followSymlinks: false });
    const controller = new AbortController();
    const ctx = createTestContext({ signal: controller.signal });
    let read = 0;
    let stream: Readable | undefined;
    const error = await (async () => {
      for await (const artifact of source.backup(ctx)) {
        stream = artifact.stream;
        for await (const chunk of artifact.stream) {
          read += (chunk as Buffer).length;
          if (read > MiB) controller.abort();
        }
      }
    })().catch((e: unknown) => e);
    expect(isAbortLike(error), `expected an abort error, got ${String(error)}`).toBe(true);
    expect(read).toBeLessThan(4 * MiB);
    if (!stream!.closed) await once(stream!, 'close');
    expect(await openFilesUnder(base!)).toEqual([]);
  });
});
