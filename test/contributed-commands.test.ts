import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli } from './helpers/cli.js';

const plugin = join(REPO_ROOT, 'test/fixtures/greeting-commands.mjs');

// Providers bring commands (DESIGN.md): a definition's `commands` become CLI commands with flags and
// help derived from their declarations, the same way for in-house plugins as for built-in pgwal.
describe('commands contributed by provider definitions', () => {
  it("an in-house provider's command runs with its declared options and arguments", async () => {
    const result = await runCli([
      '--plugin',
      plugin,
      'greeting',
      'say',
      'hello',
      '--to',
      'ops',
      '--times',
      '2',
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('hello, ops\nhello, ops\n');
  });

  it('a missing required option is a usage error (exit 64) naming the flag', async () => {
    const result = await runCli(['--plugin', plugin, 'greeting', 'say', 'hello']);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('missing required option --to for greeting say');
  });

  it('help lists the built-in wal commands without loading their provider, and `wal --help` describes them', async () => {
    const top = await runCli(['--help']);
    expect(top.stdout).toMatch(/\n {2}wal\s/);
    const wal = await runCli(['wal', '--help']);
    expect(wal.code).toBe(0);
    for (const command of ['push', 'fetch', 'verify', 'check']) expect(wal.stdout).toContain(command);
  });
});
