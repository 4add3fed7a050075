import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { files } from '@nexus-backup/credentials';
import { createTestContext } from '@nexus-backup/testkit';
import { describe, expect, it } from 'vitest';
import { tempDirsPerTest } from './tree-fixtures.js';

const dirs = tempDirsPerTest();

/** Reads the one artifact a files backup yields, to the end. */
async function drain(
  source: Awaited<ReturnType<typeof files.create>>,
  ctx: ReturnType<typeof createTestContext>,
  between: () => Promise<void>,
) {
  for await (const artifact of source.backup(ctx)) {
    await between(); // the tree is listed; the bytes are read now
    await pipeline(artifact.stream, new Writable({ write: (_chunk, _encoding, callback) => callback() }));
  }
}

describe('a file that changes between listing and reading', () => {
  it('a file that grew is stored as its listed bytes with a warning naming it (tar: "file changed as we read it")', async () => {
    const [base] = await dirs('grew');
    await writeFile(join(base!, 'app.log'), 'first line\n');
    const lines: string[] = [];
    const ctx = createTestContext({ lines });
    const source = await files.create({ paths: ['app.log'], baseDir: base!, followSymlinks: false });
    await drain(source, ctx, () => appendFile(join(base!, 'app.log'), 'second line\n'));
    expect(lines.filter((line) => line.startsWith('warn'))).toEqual([
      `warn [files] app.log in ${base} changed while it was read; the backup holds 11 bytes of it that may mix old and new; run the backup again when it is not being written`,
    ]);
  });

  it('a file left alone gives no warning', async () => {
    const [base] = await dirs('still');
    await writeFile(join(base!, 'app.log'), 'first line\n');
    const lines: string[] = [];
    const ctx = createTestContext({ lines });
    const source = await files.create({ paths: ['app.log'], baseDir: base!, followSymlinks: false });
    await drain(source, ctx, async () => undefined);
    expect(lines.filter((line) => line.startsWith('warn'))).toEqual([]);
  });
});
