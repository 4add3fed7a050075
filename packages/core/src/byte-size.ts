import { NexusError } from './errors.js';

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

export const BYTE_SIZE_FORMS =
  'bytes (1048576) or a number and a unit: B, KB, MB, GB, TB (powers of 1000), KiB, MiB, GiB, TiB (powers of 1024); e.g. 10MB, 1.5GiB';

/** `10MB` -> 10000000, `1.5KiB` -> 1536, `2048` -> 2048; anything else is a USAGE error naming the forms. */
export function parseByteSize(input: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  const factor = match ? UNITS[(match[2] || 'b').toLowerCase()] : undefined;
  const bytes = match && factor ? Math.round(Number(match[1]) * factor) : Number.NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new NexusError('USAGE', `invalid size "${input}"; use ${BYTE_SIZE_FORMS}`);
  }
  return bytes;
}
