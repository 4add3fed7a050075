import { NexusError } from '@nexus-backup/core';

export const PROVIDER = 'aes';

/** Every detected problem with encrypted bytes is an INTEGRITY error; the message says which one. */
export function integrityError(message: string, hint?: string, cause?: unknown): NexusError {
  return new NexusError('INTEGRITY', message, { provider: PROVIDER, hint, cause });
}

export function usageError(message: string, hint?: string): NexusError {
  return new NexusError('USAGE', message, { provider: PROVIDER, hint });
}

/** An empty passphrase would encrypt with a key anybody can derive. */
export function requirePassphrase(passphrase: string): string {
  if (passphrase.length === 0) {
    throw usageError(
      'the passphrase is empty',
      'set NEXUS_BACKUP_PASSPHRASE, --passphrase-file or --passphrase-env',
    );
  }
  return passphrase;
}
