import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from './helpers/cli.js';

interface PackageJson {
  name: string;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** Every package that plugs into core: the providers and the testkit (not core, the CLI or the meta-package). */
async function pluggedPackages(): Promise<PackageJson[]> {
  const dirs = await readdir(join(REPO_ROOT, 'packages'));
  const all = await Promise.all(
    dirs.map(
      async (dir) =>
        JSON.parse(await readFile(join(REPO_ROOT, 'packages', dir, 'package.json'), 'utf8')) as PackageJson,
    ),
  );
  return all.filter((pkg) => pkg.name.startsWith('@nexus-backup/') && pkg.name !== '@nexus-backup/core');
}

describe('package metadata', () => {
  it('providers and the testkit peer-depend on @nexus-backup/core, so an install shares one core', async () => {
    const packages = await pluggedPackages();
    expect(packages.length).toBeGreaterThanOrEqual(8);
    for (const pkg of packages) {
      expect({ name: pkg.name, dependency: pkg.dependencies?.['@nexus-backup/core'] }).toEqual({
        name: pkg.name,
        dependency: undefined,
      });
      expect({ name: pkg.name, peer: pkg.peerDependencies?.['@nexus-backup/core'] }).toEqual({
        name: pkg.name,
        peer: 'workspace:^',
      });
      expect({ name: pkg.name, dev: pkg.devDependencies?.['@nexus-backup/core'] }).toEqual({
        name: pkg.name,
        dev: 'workspace:^',
      });
    }
  });
});
