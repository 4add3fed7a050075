import { readFile, stat } from 'node:fs/promises';
import { type Logger, NexusError, type Secrets } from '@nexus-backup/core';
import { promptHidden } from './prompt.js';

export interface PassphraseSources {
  passphraseFile?: string;
  passphraseEnv?: string;
}

const DEFAULT_ENV = 'NEXUS_BACKUP_PASSPHRASE';

/**
 * Passphrases never come from argv: `--passphrase-file`, `--passphrase-env VAR`,
 * `$NEXUS_BACKUP_PASSPHRASE`, or a prompt when a terminal is attached. Asked once per run.
 */
export function createSecrets(sources: PassphraseSources, log: Logger, env = process.env): Secrets {
  let cached: Promise<string> | undefined;
  return {
    passphrase(purpose) {
      cached ??= readPassphrase(sources, purpose, log, env).then((passphrase) => {
        // A key from blanks is a typo or a variable set to " ", not a secret. Decrypting still
        // accepts one, so a backup made that way stays readable.
        if (purpose === 'encrypt' && passphrase.trim() === '') {
          throw new NexusError(
            'USAGE',
            'the passphrase is only blanks; a backup encrypted with it is not protected',
            {
              hint: 'set a real passphrase in $NEXUS_BACKUP_PASSPHRASE, --passphrase-file or --passphrase-env',
            },
          );
        }
        return passphrase;
      });
      return cached;
    },
  };
}

async function readPassphrase(
  sources: PassphraseSources,
  purpose: 'encrypt' | 'decrypt',
  log: Logger,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  if (sources.passphraseFile) return readPassphraseFile(sources.passphraseFile, log);
  if (sources.passphraseEnv) {
    const value = env[sources.passphraseEnv];
    if (!value) {
      throw new NexusError(
        'USAGE',
        `--passphrase-env ${sources.passphraseEnv}: that variable is not set or empty`,
      );
    }
    return value;
  }
  const fromDefault = env[DEFAULT_ENV];
  if (fromDefault) return fromDefault;
  if (process.stdin.isTTY && process.stderr.isTTY) {
    const first = await promptHidden('Passphrase: ');
    if (first === '') throw new NexusError('USAGE', 'the passphrase must not be empty');
    if (purpose === 'encrypt' && (await promptHidden('Repeat passphrase: ')) !== first) {
      throw new NexusError('USAGE', 'the two passphrases differ');
    }
    return first;
  }
  throw new NexusError('USAGE', `a passphrase is needed to ${purpose}`, {
    hint: `set $${DEFAULT_ENV}, or pass --passphrase-file FILE or --passphrase-env VAR (never on the command line)`,
  });
}

async function readPassphraseFile(path: string, log: Logger): Promise<string> {
  let content: string;
  try {
    content = await readFile(path, 'utf8');
    if (((await stat(path)).mode & 0o077) !== 0) {
      log.warn(`passphrase file ${path} is readable by other users; chmod 600 it`);
    }
  } catch (error) {
    throw new NexusError('USAGE', `cannot read --passphrase-file ${path}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // Editors add a trailing newline; a passphrase never ends in one on purpose.
  const passphrase = content.replace(/\r?\n$/, '');
  if (passphrase === '') throw new NexusError('USAGE', `--passphrase-file ${path} is empty`);
  return passphrase;
}
