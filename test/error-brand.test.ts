import { cp, rm, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runCli, tempDir } from './helpers/cli.js';

/**
 * An in-house provider bundled with its own copy of core throws errors from another NexusError class
 * object. The CLI recognises them by their brand, so they keep their exit code and `[provider]` tag.
 */
describe('errors from a provider with its own copy of core', () => {
  let work: string;

  beforeAll(async () => {
    work = await tempDir('brand');
    // A second copy of core's built files (its dependencies resolve through a node_modules link): a
    // separate NexusError class object, as a provider bundling core would have.
    await cp(join(REPO_ROOT, 'packages/core/dist'), join(work, 'own-core'), { recursive: true });
    await cp(join(REPO_ROOT, 'packages/core/package.json'), join(work, 'package.json'));
    await symlink(join(REPO_ROOT, 'packages/core/node_modules'), join(work, 'node_modules'));
    const ownCore = pathToFileURL(join(work, 'own-core/index.js')).href;
    await writeFile(
      join(work, 'inhouse.mjs'),
      [
        `const core = await import(${JSON.stringify(ownCore)});`,
        `const shared = await import(${JSON.stringify(pathToFileURL(join(REPO_ROOT, 'packages/core/dist/index.js')).href)});`,
        'if (shared.NexusError === core.NexusError) throw new Error("not a separate copy of core");',
        'const fail = (code, message) => ({ async describe() { return {}; }, async *backup() { throw new core.NexusError(code, message, { provider: "inhouse" }); }, async restore() { return { lines: [] }; } });',
        'export const usage = core.defineSource({ name: "inhouse-usage", description: "fails with USAGE", options: {}, restoreOptions: {}, create: () => fail("USAGE", "the in-house option is wrong") });',
        'export const damaged = core.defineSource({ name: "inhouse-damaged", description: "fails with INTEGRITY", options: {}, restoreOptions: {}, create: () => fail("INTEGRITY", "the in-house data is damaged") });',
        '',
      ].join('\n'),
    );
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  it('a USAGE error from the copy exits 64 with its provider tag', async () => {
    const result = await runCli(
      ['--plugin', './inhouse.mjs', 'backup', 'inhouse-usage', '--to', join(work, 'r')],
      {
        cwd: work,
      },
    );
    expect(result.stderr).toContain('error: [inhouse] the in-house option is wrong');
    expect(result.code).toBe(64);
  });

  it('an INTEGRITY error from the copy exits 2 with its provider tag', async () => {
    const result = await runCli(
      ['--plugin', './inhouse.mjs', 'backup', 'inhouse-damaged', '--to', join(work, 'r')],
      {
        cwd: work,
      },
    );
    expect(result.stderr).toContain('error: [inhouse] the in-house data is damaged');
    expect(result.code).toBe(2);
  });
});
