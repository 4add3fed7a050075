import type { Duplex } from 'node:stream';
import { NexusError } from '@nexus-backup/core';

/**
 * zlib reports damaged input in its own words (`invalid distance too far back`, `unexpected end of
 * file`) with a `Z_*` code; restore turns that into one integrity error a person can act on. Any
 * other error (an abort, a failing neighbour stage) passes through unchanged.
 */
export function reportDamagedInput(decoder: Duplex): Duplex {
  const destroy = decoder._destroy.bind(decoder);
  decoder._destroy = (error, callback) => destroy(error, (final) => callback(asDamaged(final)));
  return decoder;
}

function asDamaged(error: Error | null | undefined): Error | null | undefined {
  const code = (error as NodeJS.ErrnoException | null | undefined)?.code;
  if (!error || typeof code !== 'string' || !code.startsWith('Z_')) return error;
  return new NexusError('INTEGRITY', `gzip data is damaged (${error.message})`, {
    provider: 'gzip',
    cause: error,
    hint: 'restore an older backup or another copy (`nexus-backup list`); `nexus-backup verify` names the damaged ones',
  });
}
