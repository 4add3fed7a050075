import { execFile } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));

async function ssh2Loaded(script: string): Promise<boolean> {
  const probe = `
    import { createRequire } from 'node:module';
    ${script}
    const cache = createRequire(import.meta.url).cache;
    console.log(Object.keys(cache).some((file) => /[\\/]ssh2(-sftp-client)?[\\/]/.test(file)));`;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', probe], { cwd: packageDir });
  return stdout.trim() === 'true';
}

describe('the sftp definition', () => {
  it('loads ssh2 only when a destination is created, so --help stays light', async () => {
    expect(
      await ssh2Loaded(
        `const { sftp } = await import('@nexus-backup/rsync'); sftp.fromUrl(new URL('sftp://h/p'));`,
      ),
    ).toBe(false);
    expect(
      await ssh2Loaded(`
        const { sftp } = await import('@nexus-backup/rsync');
        const destination = await sftp.create({ host: '127.0.0.1', port: 1, path: '/x', identity: '/dev/null', retries: 0 });
        const ctx = { signal: new AbortController().signal, log: console, secrets: {} };
        await destination.list('', ctx)[Symbol.asyncIterator]().next().catch(() => {});`),
    ).toBe(true);
  });
});
