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
): Promise<{ flags: string[]; pid: number; childPid: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-young-'));
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
      const child = spawn(process.execPath, ['--import', pathToFileURL(hook).href, BIN, ...args], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
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

describe('the CLI bounds V8 young generation (flat peak RSS as the data grows)', () => {
  // The project is developed and tested on Node 24 on Linux, which has process.execve: no skip.
  it('runs with a 2 MiB semi-space in the same process, keeping the caller flags, unless the operator sets one or it is a per-segment wal command', async () => {
    const bounded = await cliFlags(undefined);
    expect(bounded.flags[0]).toBe('--max-semi-space-size=2');
    expect(bounded.flags).toContain('--import');
    // execve: the process a shell, cron or systemd started is the one that runs the backup.
    expect(bounded.pid).toBe(bounded.childPid);

    const own = await cliFlags('--max-semi-space-size=8');
    expect(own.flags.join(' ')).not.toContain('--max-semi-space-size=2');

    // One process per WAL segment: no second start for a bounded 16 MiB.
    const walPush = await cliFlags(undefined, ['wal', 'push', '--help']);
    expect(walPush.flags.join(' ')).not.toContain('--max-semi-space-size');
    const backup = await cliFlags(undefined, ['backup', '--help']);
    expect(backup.flags[0]).toBe('--max-semi-space-size=2');
  });
});
