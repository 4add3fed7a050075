import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = resolve(import.meta.dirname, '../bin/nexus-backup.js');

/** The V8 flags and pid the CLI ran with, reported by a preloaded hook when it exits. */
async function cliFlags(
  nodeOptions: string | undefined,
  args: string[] = ['--version'],
  nodeArgs: string[] = [],
): Promise<{ flags: string[]; pid: number; childPid: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-heap-'));
  try {
    const hook = join(dir, 'report.mjs');
    await writeFile(
      hook,
      "process.on('exit', () => process.stderr.write('FLAGS:' + JSON.stringify({ flags: process.execArgv, pid: process.pid }) + '\\n'));\n",
    );
    const env = { ...process.env };
    if (nodeOptions === undefined) delete env.NODE_OPTIONS;
    else env.NODE_OPTIONS = nodeOptions;
    return await new Promise((done, reject) => {
      const child = spawn(
        process.execPath,
        [...nodeArgs, '--import', pathToFileURL(hook).href, BIN, ...args],
        {
          env,
          stdio: ['ignore', 'ignore', 'pipe'],
        },
      );
      let text = '';
      child.stderr.on('data', (chunk: Buffer) => {
        text += chunk.toString();
      });
      child.on('error', reject);
      child.on('close', () => {
        const line = text.split('\n').find((candidate) => candidate.startsWith('FLAGS:'));
        if (line === undefined) reject(new Error(`no FLAGS line in:\n${text}`));
        else done({ ...JSON.parse(line.slice('FLAGS:'.length)), childPid: child.pid as number });
      });
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

const HEAP_FLAGS = ['--max-semi-space-size=2', '--initial-old-space-size=64'];

describe('the CLI sets its V8 heap (flat peak RSS as the data grows, few full GCs on stream Buffers)', () => {
  // The project is developed and tested on Node 24 on Linux, which has process.execve: no skip.
  it('runs with a 2 MiB semi-space and a 64 MiB initial old space in the same process, keeping the caller flags', async () => {
    const tuned = await cliFlags(undefined);
    expect(tuned.flags.slice(0, 2)).toEqual(HEAP_FLAGS);
    expect(tuned.flags).toContain('--import');
    // execve: the process a shell, cron or systemd started is the one that runs the backup.
    expect(tuned.pid).toBe(tuned.childPid);
    const backup = await cliFlags(undefined, ['backup', '--help']);
    expect(backup.flags.slice(0, 2)).toEqual(HEAP_FLAGS);
  });

  it("keeps a size the operator gave (NODE_OPTIONS or node's argv) and still sets the other", async () => {
    const ownSemiSpace = await cliFlags('--max-semi-space-size=8');
    expect(ownSemiSpace.flags.join(' ')).not.toContain('--max-semi-space-size=2');
    expect(ownSemiSpace.flags[0]).toBe('--initial-old-space-size=64');

    // Node refuses --initial-old-space-size in NODE_OPTIONS, so an operator gives it on node's argv.
    const ownOldSpace = await cliFlags(undefined, ['--version'], ['--initial-old-space-size=16']);
    expect(ownOldSpace.flags.filter((flag) => flag.includes('old-space'))).toEqual([
      '--initial-old-space-size=16',
    ]);
    expect(ownOldSpace.flags[0]).toBe('--max-semi-space-size=2');

    const both = await cliFlags('--max-semi-space-size=8', ['--version'], ['--initial-old-space-size=16']);
    expect(both.flags).toEqual(['--initial-old-space-size=16', '--import', expect.any(String)]);
  });

  it('leaves the per-segment wal commands on V8 defaults (one process per WAL segment: no second start)', async () => {
    const walPush = await cliFlags(undefined, ['wal', 'push', '--help']);
    expect(walPush.flags.join(' ')).not.toMatch(/semi-space|old-space/);
    const walFetch = await cliFlags(undefined, ['wal', 'fetch', '--help']);
    expect(walFetch.flags.join(' ')).not.toMatch(/semi-space|old-space/);
  });
});
