import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { defineCommand, EXIT, NexusError } from '@nexus-backup/core';
import { createDecryptStream } from './decrypt-stream.js';
import { PROVIDER, usageError } from './integrity.js';

/** `--pbkdf2` and `--iter` only mean something for an openssl file. */
function opensslOnly(values: Readonly<Record<string, unknown>>): string | undefined {
  const given = values.pbkdf2 === true || values.iter !== undefined;
  return given && !values.openssl ? '--pbkdf2 and --iter describe openssl files; add --openssl' : undefined;
}

/**
 * `decrypt FILE [--openssl [--pbkdf2 --iter N] [--md sha256|md5]] > plain`: the disaster-recovery
 * escape hatch, no repository needed. Reads our format (detected by its magic) or files made by the
 * `openssl enc -aes-256-cbc -salt` templates operators use today.
 */
export const decryptCommand = defineCommand({
  path: ['decrypt'],
  description:
    'decrypt one file (nexus-backup aes format, or openssl enc -aes-256-cbc) to stdout or --output',
  arguments: [{ name: 'file', description: 'the encrypted file', required: true }],
  options: {
    openssl: {
      type: 'boolean',
      description:
        'the file was made by `openssl enc -aes-256-cbc` (our own format is detected without this)',
    },
    pbkdf2: {
      type: 'boolean',
      description:
        'openssl file made with -pbkdf2 (default: the legacy key derivation of `openssl enc -salt`)',
      check: (values: Readonly<Record<string, unknown>>) => opensslOnly(values),
    },
    iter: {
      type: 'number',
      description: 'openssl -iter N used with -pbkdf2 (openssl default 10000)',
      check: (values: Readonly<Record<string, unknown>>) => opensslOnly(values),
    },
    md: {
      type: 'string',
      description: 'openssl -md digest: sha256 (OpenSSL >= 1.1) or md5 (older)',
      choices: ['sha256', 'md5'],
      default: 'sha256',
      placeholder: 'digest',
    },
    output: {
      type: 'string',
      short: 'o',
      description: 'write here (atomically: nothing is left on failure) instead of stdout',
      placeholder: 'file',
    },
  },
  async run([file], options, { ctx }) {
    const { iter } = options;
    if (iter !== undefined && (!Number.isInteger(iter) || iter < 1)) {
      throw usageError(`--iter must be a positive whole number, got "${String(iter)}"`);
    }
    const decrypt = createDecryptStream({
      passphrase: await ctx.secrets.passphrase('decrypt'),
      signal: ctx.signal,
      ...(options.openssl
        ? {
            openssl: {
              pbkdf2: Boolean(options.pbkdf2),
              md: options.md as 'sha256' | 'md5',
              ...(iter ? { iter } : {}),
            },
          }
        : {}),
    });
    const input = await openInput(file as string);
    if (!options.output) {
      await pipeline(input, decrypt, process.stdout as Writable);
    } else {
      await writeAtomically(options.output, (output) => pipeline(input, decrypt, output));
    }
    return EXIT.ok;
  },
});

/** Fails before the passphrase-derived stream sees a byte, with the path in the message. */
async function openInput(file: string): Promise<Readable> {
  const input = createReadStream(file);
  await new Promise<void>((resolve, reject) => {
    input.once('open', () => resolve());
    input.once('error', (error) =>
      reject(
        new NexusError('NOT_FOUND', `cannot read ${file}: ${error.message}`, {
          provider: PROVIDER,
          cause: error,
        }),
      ),
    );
  });
  return input;
}

/** Plaintext is written owner-only under a temporary name and renamed on success; removed on failure. */
async function writeAtomically(path: string, write: (output: Writable) => Promise<void>): Promise<void> {
  const temp = `${path}.partial-${process.pid}`;
  try {
    await write(createWriteStream(temp, { mode: 0o600 }));
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
