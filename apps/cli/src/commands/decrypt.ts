import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { EXIT, NexusError } from '@nexus-backup/core';
import { type Command, Option } from 'commander';
import type { Runtime } from '../runtime.js';

interface DecryptModule {
  createDecryptStream(options: {
    passphrase: string;
    openssl?: { pbkdf2: boolean; iter?: number; md: 'sha256' | 'md5' };
    signal?: AbortSignal;
  }): Duplex;
}

/**
 * `decrypt FILE [--openssl [--pbkdf2 --iter N] [--md sha256|md5]] > plain`: the disaster-recovery
 * escape hatch, no repository needed. Reads our format (detected by its magic) or files made by the
 * `openssl enc -aes-256-cbc -salt` templates operators use today.
 */
export function registerDecrypt(program: Command, runtime: Runtime): void {
  const command = program
    .command('decrypt')
    .description(
      'decrypt one file (nexus-backup aes format, or openssl enc -aes-256-cbc) to stdout or --output',
    )
    .argument('<file>', 'the encrypted file')
    .option(
      '--openssl',
      'the file was made by `openssl enc -aes-256-cbc` (our own format is detected without this)',
    )
    .option(
      '--pbkdf2',
      'openssl file made with -pbkdf2 (default: the legacy key derivation of `openssl enc -salt`)',
    )
    .option('--iter <n>', 'openssl -iter N used with -pbkdf2 (openssl default 10000)')
    .addOption(
      new Option('--md <digest>', 'openssl -md digest: sha256 (OpenSSL >= 1.1) or md5 (older)')
        .choices(['sha256', 'md5'])
        .default('sha256'),
    )
    .option('-o, --output <file>', 'write here (atomically: nothing is left on failure) instead of stdout')
    .action(async (file: string) => {
      const parsed = command.optsWithGlobals();
      runtime.flags = parsed;
      const iter = parsed.iter === undefined ? undefined : Number(parsed.iter);
      if (iter !== undefined && (!Number.isInteger(iter) || iter < 1)) {
        throw new NexusError('USAGE', `--iter must be a positive whole number, got "${String(parsed.iter)}"`);
      }
      if ((parsed.pbkdf2 || iter !== undefined) && !parsed.openssl) {
        throw new NexusError('USAGE', '--pbkdf2 and --iter describe openssl files; add --openssl');
      }
      const registry = await runtime.registry();
      const aes = (await registry.providerModule('transform', 'aes')) as unknown as DecryptModule;
      const ctx = runtime.context();
      const decrypt = aes.createDecryptStream({
        passphrase: await ctx.secrets.passphrase('decrypt'),
        signal: ctx.signal,
        ...(parsed.openssl
          ? {
              openssl: {
                pbkdf2: Boolean(parsed.pbkdf2),
                md: parsed.md as 'sha256' | 'md5',
                ...(iter ? { iter } : {}),
              },
            }
          : {}),
      });
      const input = createReadStream(file);
      const inputOpened = new Promise<void>((resolve, reject) => {
        input.once('open', () => resolve());
        input.once('error', (error) =>
          reject(new NexusError('NOT_FOUND', `cannot read ${file}: ${error.message}`, { cause: error })),
        );
      });
      await inputOpened;
      const output = parsed.output as string | undefined;
      if (!output) {
        await pipeline(input, decrypt, process.stdout);
      } else {
        const temp = `${output}.partial-${process.pid}`;
        try {
          await pipeline(input, decrypt, createWriteStream(temp, { mode: 0o600 }));
          await rename(temp, output);
        } catch (error) {
          await rm(temp, { force: true });
          throw error;
        }
      }
      process.exitCode = EXIT.ok;
    });
}
