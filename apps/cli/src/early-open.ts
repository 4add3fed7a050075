import { resolveOptions, SCHEME_PROVIDERS } from '@nexus-backup/core';
import type { Runtime } from './runtime.js';

const REPOSITORY_FLAGS = new Set(['--to', '--from']);

/**
 * Opens the remote repositories a command line names (`--to`, `--from`) while the CLI still loads its
 * commands and providers (~0.1-0.2 s): a destination that connects when it is created (sftp: the SSH
 * handshake and the login) connects meanwhile, and the destination the command opens later for the
 * same repository takes that connection over. Best effort: the command opens the repository again
 * and reports whatever failed here. Local folders are left alone (nothing to connect to), and the
 * runtime's logger is not touched (it is created once the command's flags, e.g. --quiet, are parsed).
 * Resolves once every early destination is registered for closing; it never rejects.
 */
export async function openRepositoriesEarly(argv: string[], runtime: Runtime): Promise<void> {
  if (argv.some((arg) => arg === '--help' || arg === '-h' || arg === '--version' || arg === '-V')) return;
  const opening: Promise<void>[] = [];
  for (let index = 0; index < argv.length; index += 1) {
    const [flag, inline] = (argv[index] as string).split(/=(.*)/s, 2) as [string, string | undefined];
    if (!REPOSITORY_FLAGS.has(flag)) continue;
    const value = inline ?? argv[++index];
    if (value !== undefined && !value.startsWith('-'))
      opening.push(openEarly(value, runtime).catch(() => {}));
  }
  await Promise.all(opening);
}

/**
 * What the operations layer's openRepository does, without loading that layer or every destination
 * package first (it would finish after the commands loaded, too late to gain anything): the built-in
 * destination for the scheme, unless an in-house one (--plugin, `plugins:`) may claim it.
 */
async function openEarly(value: string, runtime: Runtime): Promise<void> {
  const { resolveRepositoryRef } = await import('./repositories.js');
  const ref = await resolveRepositoryRef(value, runtime);
  const url = new URL(ref.url);
  const builtin = SCHEME_PROVIDERS[url.protocol.replace(/:$/, '')];
  const registry = await runtime.registry();
  if (!builtin || builtin === 'local' || !registry.isInstalled('destination', builtin)) return;
  if ((await registry.plugins('destination')).length > 0) return;
  const definition = await registry.load('destination', builtin);
  const options = resolveOptions(definition.options, {
    path: ref.label,
    provider: definition.name,
    values: definition.fromUrl(url) as Record<string, unknown>,
    env: runtime.env,
  });
  runtime.closeAtExit(await definition.create(options));
}
