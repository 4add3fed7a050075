import { addAbortSignal, type Duplex } from 'node:stream';
import {
  defineTransform,
  type Json,
  NexusError,
  type OptionValues,
  type RunContext,
} from '@nexus-backup/core';
import { DecoderStream } from './decoder-stream.js';
import { decryptCommand } from './decrypt-command.js';
import { PROVIDER, requirePassphrase } from './integrity.js';
import { NexusDecoder } from './nexus-decoder.js';
import { NexusEncryptStream } from './nexus-encrypt-stream.js';
import {
  FORMAT_VERSION,
  LIMITS,
  SALT_BYTES,
  type ScryptParams,
  scryptMemoryBytes,
  scryptParamsProblem,
} from './nexus-format.js';
import { MasterKeyCache } from './nexus-keys.js';
import { opensslDecryptCommand } from './openssl-keys.js';
import { OpensslDecoder, OpensslEncryptStream } from './openssl-streams.js';

/** 1 MiB: per-chunk cipher setup stops mattering (64 KiB chunks ran ~40% slower); memory stays ~3 MiB per stream. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/**
 * scrypt N=2^17, r=8, p=1 (OWASP's recommendation): 128 MiB and about 0.4 s on the reference machine.
 * 2^18 (age's choice) doubled a backup's peak memory to 330 MiB for the KDF alone (see README).
 */
export const DEFAULT_SCRYPT: ScryptParams = { logN: 17, r: 8, p: 1 };
/** OWASP's 2023 recommendation for PBKDF2-HMAC-SHA256. */
export const DEFAULT_OPENSSL_ITER = 600_000;
const MIN_OPENSSL_ITER = 1000;

const options = {
  format: {
    type: 'string',
    description:
      'nexus: authenticated chunked AES-256-GCM (detects tampering); openssl: what `openssl enc -d -aes-256-cbc -pbkdf2` decrypts',
    choices: ['nexus', 'openssl'],
    default: 'nexus',
  },
  chunkSize: {
    type: 'number',
    description: 'plaintext bytes per authenticated chunk (nexus format)',
    default: DEFAULT_CHUNK_SIZE,
    placeholder: 'BYTES',
    integer: true,
    min: LIMITS.minChunkSize,
    max: LIMITS.maxChunkSize,
  },
  scryptLogN: {
    type: 'number',
    description: 'scrypt cost as log2(N) (nexus format); each step doubles time and memory',
    default: DEFAULT_SCRYPT.logN,
    placeholder: 'N',
    integer: true,
    min: LIMITS.minScryptLogN,
    max: LIMITS.maxScryptLogN,
    // N and r together set the memory scrypt needs: each may be in range while both are too much.
    check: (values: Readonly<Record<string, unknown>>) =>
      scryptMemoryProblem(values.scryptLogN as number, values.scryptR as number),
  },
  scryptR: {
    type: 'number',
    description: 'scrypt block size r (nexus format)',
    default: DEFAULT_SCRYPT.r,
    integer: true,
    min: 1,
    max: LIMITS.maxScryptR,
  },
  scryptP: {
    type: 'number',
    description: 'scrypt parallelism p (nexus format)',
    default: DEFAULT_SCRYPT.p,
    integer: true,
    min: 1,
    max: LIMITS.maxScryptP,
  },
  iter: {
    type: 'number',
    description: 'PBKDF2-HMAC-SHA256 iterations (openssl format)',
    default: DEFAULT_OPENSSL_ITER,
    placeholder: 'N',
    integer: true,
    min: MIN_OPENSSL_ITER,
  },
} as const;

type AesOptions = OptionValues<typeof options>;

export const aes = defineTransform({
  name: 'aes',
  description:
    'encrypts with a passphrase: authenticated AES-256-GCM, or an openssl-compatible AES-256-CBC mode',
  extension: '.aes',
  // `backup --encrypt [--encrypt-format openssl] [--encrypt-iter N]`.
  cli: { flag: 'encrypt' },
  encrypts: true,
  authenticated: (params) => params.format !== 'openssl',
  options,
  // `nexus-backup decrypt FILE`: the escape hatch for one file, no repository needed.
  commands: [decryptCommand],
  create(values: AesOptions) {
    const settings = settingsOf(values);
    // One cache per instance: every artifact of a run shares the scrypt result (each file still gets its own key).
    const keys = new MasterKeyCache();
    return {
      params: () => paramsOf(settings, keys.encryptionSalt),
      // scrypt (~0.4 s, on libuv's thread pool) starts now and runs while the source plans and its
      // first rows are read and compressed: the encoder holds what comes before the key.
      async prepare(ctx: RunContext): Promise<void> {
        const passphrase = await ctx.secrets.passphrase('encrypt');
        if (settings.format === 'nexus') {
          // Not awaited: a failure reaches the run through the encoder that awaits the same promise.
          keys.forEncryption(requirePassphrase(passphrase), settings.scrypt).catch(() => undefined);
        }
      },
      async encode(ctx: RunContext): Promise<Duplex> {
        ctx.signal.throwIfAborted();
        const passphrase = await ctx.secrets.passphrase('encrypt');
        let stream: Duplex;
        if (settings.format === 'openssl') {
          stream = await OpensslEncryptStream.create(passphrase, settings.iter);
        } else {
          stream = new NexusEncryptStream(
            keys.forEncryption(requirePassphrase(passphrase), settings.scrypt),
            settings.chunkSize,
          );
        }
        ctx.signal.throwIfAborted();
        return addAbortSignal(ctx.signal, stream);
      },
      // The restore's scrypt starts with the salt the manifest names, while the target is being
      // created; a decoder whose header has that salt then finds the key ready. The header stays
      // authoritative: another salt there is derived again, and a wrong passphrase fails there.
      async prepareDecode(ctx: RunContext, params: { [key: string]: Json }): Promise<void> {
        const stored = storedFormat(params) === 'nexus' ? storedKeySource(params) : undefined;
        if (stored === undefined) return;
        const passphrase = await ctx.secrets.passphrase('decrypt');
        await keys.get(requirePassphrase(passphrase), stored.salt, stored.scrypt);
      },
      async decode(ctx: RunContext, params: { [key: string]: Json }): Promise<Duplex> {
        ctx.signal.throwIfAborted();
        const passphrase = await ctx.secrets.passphrase('decrypt');
        const decoder =
          storedFormat(params) === 'openssl'
            ? new OpensslDecoder(passphrase, { pbkdf2: true, iter: storedIter(params), md: 'sha256' })
            : new NexusDecoder(passphrase, keys);
        return addAbortSignal(ctx.signal, new DecoderStream(decoder));
      },
    };
  },
});

interface Settings {
  format: 'nexus' | 'openssl';
  chunkSize: number;
  scrypt: ScryptParams;
  iter: number;
}

/** The options as the streams use them; their rules are declared above and checked before `create` runs. */
function settingsOf(values: AesOptions): Settings {
  return {
    format: values.format as Settings['format'],
    chunkSize: values.chunkSize,
    scrypt: { logN: values.scryptLogN, r: values.scryptR, p: values.scryptP },
    iter: values.iter,
  };
}

function scryptMemoryProblem(logN: number, r: number): string | undefined {
  if (r === undefined || scryptMemoryBytes({ logN, r, p: 1 }) <= LIMITS.maxScryptMemory) return undefined;
  return `scrypt N=2^${logN} r=${r} needs more than ${LIMITS.maxScryptMemory / 2 ** 30} GiB of memory`;
}

/**
 * What decode needs besides the passphrase; the nexus values are informational (the header is
 * authoritative), and the salt lets a restore start scrypt before it reads a header.
 */
function paramsOf(settings: Settings, salt: Buffer | undefined): { [key: string]: Json } {
  if (settings.format === 'openssl') {
    return {
      format: 'openssl',
      cipher: 'aes-256-cbc',
      kdf: 'pbkdf2',
      md: 'sha256',
      iter: settings.iter,
      command: opensslDecryptCommand(settings.iter),
    };
  }
  return {
    format: 'nexus',
    version: FORMAT_VERSION,
    cipher: 'aes-256-gcm',
    chunkSize: settings.chunkSize,
    kdf: 'scrypt',
    scryptLogN: settings.scrypt.logN,
    scryptR: settings.scrypt.r,
    scryptP: settings.scrypt.p,
    ...(salt ? { salt: salt.toString('hex') } : {}),
  };
}

/** The salt and scrypt parameters a manifest names, when they are there and within the header's limits. */
function storedKeySource(params: {
  [key: string]: Json;
}): { salt: Buffer; scrypt: ScryptParams } | undefined {
  const { salt, scryptLogN: logN, scryptR: r, scryptP: p } = params;
  if (typeof salt !== 'string' || !new RegExp(`^[0-9a-f]{${2 * SALT_BYTES}}$`).test(salt)) return undefined;
  if (typeof logN !== 'number' || typeof r !== 'number' || typeof p !== 'number') return undefined;
  const scrypt = { logN, r, p };
  if (scryptParamsProblem(scrypt) !== undefined) return undefined;
  return { salt: Buffer.from(salt, 'hex'), scrypt };
}

function storedFormat(params: { [key: string]: Json }): 'nexus' | 'openssl' {
  const format = params.format ?? 'nexus';
  if (format === 'nexus' || format === 'openssl') return format;
  throw new NexusError('INTEGRITY', `the manifest names an unknown aes format ${JSON.stringify(format)}`, {
    provider: PROVIDER,
    hint: 'restore it with the nexus-backup version that wrote it',
  });
}

function storedIter(params: { [key: string]: Json }): number {
  const iter = params.iter;
  if (typeof iter !== 'number' || !Number.isInteger(iter) || iter < 1) {
    throw new NexusError(
      'INTEGRITY',
      `the manifest has no valid pbkdf2 iteration count for the openssl format`,
      {
        provider: PROVIDER,
      },
    );
  }
  return iter;
}
