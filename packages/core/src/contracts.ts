import type { Duplex, Readable } from 'node:stream';
import type { CommandDefinition } from './commands.js';
import type { DrillOptions, DrillReport } from './drill-contract.js';
import type { MirrorMethod } from './mirror-contract.js';
import { checkOptionRules, type OptionsSpec, type OptionValues } from './options.js';
import type { BackupEntry, Repository } from './repository.js';
import type { RestoreChoice, SourceCheckResult, SourceDataCheck } from './source-hooks.js';

/** Plain JSON, the only thing that goes into a manifest. */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  debug(message: string): void;
}

/** Secrets are asked for lazily, so a pipeline that never decrypts never prompts. */
export interface Secrets {
  /** The repository passphrase (NEXUS_BACKUP_PASSPHRASE, --passphrase-file, --passphrase-env or a prompt). */
  passphrase(purpose: 'encrypt' | 'decrypt'): Promise<string>;
}

/** Called with running byte counts so the CLI can draw progress; never required. */
export interface ProgressSink {
  start(label: string, expectedBytes?: number): void;
  advance(bytes: number): void;
  done(): void;
}

/** Everything a stage needs besides its own options: cancellation, logging, secrets. */
export interface RunContext {
  signal: AbortSignal;
  log: Logger;
  secrets: Secrets;
  progress?: ProgressSink;
}

/** One named byte stream a source produces (a SQL dump, a tar of a directory). */
export interface Artifact {
  /** File-safe name without extensions, e.g. `database.sql` or `credentials.tar`. */
  name: string;
  stream: Readable;
  /** For progress only; may be wrong or absent. */
  expectedBytes?: number;
  /** Non-secret facts stored in the manifest next to the artifact and handed back on restore. */
  meta?: { [key: string]: Json };
}

/** An artifact handed back to a source on restore: decoded, and verified against the manifest as it streams. */
export interface RestoreArtifact {
  name: string;
  /** Raw bytes; errors (instead of ending) when the stored or raw SHA-256 does not match the manifest. */
  stream: Readable;
  /** Decoded size for progress; 0 when unknown (e.g. `copy`, which streams without a repository). */
  rawBytes: number;
  meta: { [key: string]: Json };
}

export interface RestoreReport {
  /** One line per fact worth printing, e.g. `restored 12 files into /tmp/out`. */
  lines: string[];
  details?: Json;
  /** What the caller should warn about (exit 1), e.g. a copied backup that left objects out. */
  warnings?: string[];
}

/**
 * How `recover` puts a backup in place of a live target: restore beside it (through the source's own
 * `restore` with `besideTarget`), then swap. Every step is idempotent, so a run interrupted at any
 * point is finished or reverted by the next one from its journal. The swap state is plain JSON
 * written to that journal: names and paths only, never a secret.
 */
export interface RecoverySupport {
  /** The live target for messages, e.g. `database app on 127.0.0.1:5432` (no secret). */
  describeLive(target: OptionValues): string;
  /** Names for this recovery (`stamp` is unique): where the backup is restored beside, where the old state goes. */
  plan(
    target: OptionValues,
    stamp: string,
  ): Promise<{ besideTarget: OptionValues; swap: { [key: string]: Json } }>;
  /** Where a run stopped: `staged` (restored beside, not swapped), `swapped`, or `partial` (some of it). */
  state(
    ctx: RunContext,
    target: OptionValues,
    swap: { [key: string]: Json },
  ): Promise<'staged' | 'swapped' | 'partial'>;
  /** Live state aside (renamed, never deleted), the restored state in its place. */
  swapIn(ctx: RunContext, target: OptionValues, swap: { [key: string]: Json }): Promise<void>;
  /** The reverse of swapIn: the restored state aside again, the old state back under the live name. */
  swapBack(ctx: RunContext, target: OptionValues, swap: { [key: string]: Json }): Promise<void>;
  /** Removes what was restored beside and never swapped in. */
  discard(ctx: RunContext, target: OptionValues, swap: { [key: string]: Json }): Promise<void>;
  /** Deletes what a finished recovery left beside the live target (`recover --forget-old`); returns what it named. */
  forget(
    ctx: RunContext,
    target: OptionValues,
    swap: { [key: string]: Json },
    dryRun: boolean,
  ): Promise<string[]>;
  /** For `sql` health checks: runs one query against the live target; true when its first value is true. */
  query?(ctx: RunContext, target: OptionValues, sql: string): Promise<boolean>;
}

export interface Source {
  /** Present when the source can restore beside a live target and swap it in (`nexus-backup recover`). */
  recovery?: RecoverySupport;
  /**
   * Non-secret facts about what is backed up (server version, row counts, host, git commit). A backup
   * runs it beside `backup`, not before it; when it rejects, the backup is cancelled with its error.
   */
  describe(ctx: RunContext): Promise<{ [key: string]: Json }>;
  backup(ctx: RunContext): AsyncIterable<Artifact>;
  /**
   * How many of its artifacts core may store side by side (default 1): core pulls the next artifact
   * while earlier ones are still being encoded and written, up to this many at once. The manifest
   * keeps the yield order.
   */
  concurrentArtifacts?: number;
  /**
   * Restores into the target named by the restore options. For restore the source is created from its
   * declared defaults only (the backup options are not known then), so rely on `target` alone. Must leave the target as it was when any
   * artifact stream errors (stage in a temp place, or use one transaction), since the integrity check
   * of a stream only fails at its end.
   */
  restore(
    ctx: RunContext,
    artifacts: AsyncIterable<RestoreArtifact>,
    target: OptionValues,
  ): Promise<RestoreReport>;
  /**
   * Optional restore drill: restores into a scratch place of the source's own (a new database, a temp
   * folder), compares it with what the artifacts' meta recorded at backup time, and removes the
   * scratch place again, also when the restore fails or `ctx.signal` aborts.
   */
  drill?(
    ctx: RunContext,
    artifacts: AsyncIterable<RestoreArtifact>,
    options: DrillOptions,
  ): Promise<DrillReport>;
  /**
   * Optional housekeeping for `nexus-backup cleanup`: finishes or rolls back what killed restores left
   * at the target these restore options name (staging folders, temporary databases, partial files),
   * never touching what a live run owns. Restore does the same before it starts.
   */
  settleTarget?(ctx: RunContext, target: OptionValues): Promise<RestoreReport>;
}

export interface Transform {
  /** What decode needs (level, cipher, KDF, salt); never a secret. Stored in the manifest. */
  params(): { [key: string]: Json };
  /**
   * Optional one-off work of a backup (a passphrase's key derivation) that core starts, without
   * waiting, when the backup starts, so it runs while the source plans; core awaits it before the
   * first `encode` and fails the backup with its error before anything is written.
   */
  prepare?(ctx: RunContext): Promise<void>;
  /**
   * Optional one-off work of a restore, from the params the manifest stored (a passphrase's key
   * derivation for the salt they name) that core starts, without waiting, before the source opens its
   * target, so it runs while the source connects and creates it. Core ignores its outcome: `decode`
   * repeats what failed and reports it, naming the artifact.
   */
  prepareDecode?(ctx: RunContext, params: { [key: string]: Json }): Promise<void>;
  /** A fresh encoder for one artifact. */
  encode(ctx: RunContext): Promise<Duplex>;
  /** A fresh decoder for one artifact, from the params the manifest stored. */
  decode(ctx: RunContext, params: { [key: string]: Json }): Promise<Duplex>;
}

export interface StoredObject {
  /** Key relative to the destination's base, `/`-separated. */
  key: string;
  bytes: number;
  modified: Date;
}

export interface Destination {
  /** Human-readable location without secrets, e.g. `/var/backups` or `s3://bucket/prefix`. */
  readonly location: string;
  /** Atomic: no reader ever sees a partial object under `key`. Consumes (or destroys) `body`. */
  put(key: string, body: Readable, ctx: RunContext): Promise<{ bytes: number }>;
  /** Rejects with a NexusError code NOT_FOUND when the key does not exist. */
  get(key: string, ctx: RunContext): Promise<Readable>;
  /** Every object whose key starts with `prefix` (`''` lists all); includes leftovers of failed puts when visible. */
  list(prefix: string, ctx: RunContext): AsyncIterable<StoredObject>;
  /** Deleting a missing key is not an error. */
  delete(keys: string[], ctx: RunContext): Promise<void>;
  /** Optional housekeeping for prune, e.g. aborting stale multipart uploads or temp files. */
  cleanup?(olderThan: Date, ctx: RunContext, dryRun: boolean): Promise<string[]>;
  /** Releases connections. */
  close?(): Promise<void>;
  /**
   * Faster ways to mirror a repository into this destination, by the name `mirror --via` takes
   * (the sftp destination: `rsync`); `'stream'` names core's own path under another name.
   */
  readonly mirrorMethods?: Readonly<Record<string, MirrorMethod | 'stream'>>;
}

interface DefinitionBase<O extends OptionsSpec> {
  name: string;
  description: string;
  /** One declaration from which config validation, CLI flags and help are derived. */
  options: O;
  /** CLI commands the provider brings (e.g. `wal push`); the CLI registers them generically. */
  // biome-ignore lint/suspicious/noExplicitAny: each command declares its own options
  commands?: CommandDefinition<any>[];
  /** Where a password for this provider goes instead of argv, and how to recognise one there. */
  argvSecrets?: ArgvSecrets;
}

/**
 * argv is readable by every user (`ps`), so the CLI refuses a value that carries a password. A URL
 * with a password in its user info or a secret query key (`?password=`) is found for any scheme; a
 * provider says whose URLs are its own and where their password belongs, and may recognise values
 * of its own syntax that are not URLs (libpq `key=value` strings).
 */
export interface ArgvSecrets {
  /** URL schemes this hint covers; a destination's own `schemes` when omitted. */
  schemes?: readonly string[];
  /** True when a value that is not a URL carries a password in this provider's syntax. */
  detect?(value: string): boolean;
  /** Where the password should go instead (an environment variable, a key file, a credential chain). */
  hint: string;
}

export interface SourceDefinition<O extends OptionsSpec = OptionsSpec, R extends OptionsSpec = OptionsSpec>
  extends DefinitionBase<O> {
  kind: 'source';
  /** Target options for `restore` (e.g. `toDir`, `db`, `createDb`). */
  restoreOptions: R;
  /** Default artifact-level policy checks, e.g. credentials refuse an unencrypted pipeline. */
  requiresEncryption?(options: OptionValues<O>): boolean;
  /**
   * The compressor (a transform name, e.g. `zstd`) that `backup <source>` applies when no compressor
   * flag is given, if that transform is installed; otherwise the default compressor (`gzip`) applies.
   */
  defaultCompression?: string;
  create(options: OptionValues<O>): Source | Promise<Source>;
  /**
   * Housekeeping after `prune` removed backups, for data the source's backups depend on outside their
   * folders (archived WAL). Returns one line per action taken, or that would be taken on a dry run.
   */
  afterPrune?(repository: Repository, ctx: RunContext, options: { dryRun: boolean }): Promise<string[]>;
  /**
   * For `verify`: checks of that same outside data (archived WAL continuity), for every pipeline of it
   * the repository holds, or only `pipeline` when given. Returns nothing for pipelines it does not own.
   */
  verifyData?(
    repository: Repository,
    ctx: RunContext,
    options: { pipeline?: string },
  ): Promise<SourceDataCheck[]>;
  /** Flags this source adds to `check` (e.g. `--max-wal-age`), derived like its other options. */
  checkOptions?: OptionsSpec;
  /** For `check`: judges that outside data with the `checkOptions` values; called when any was given. */
  check?(
    repository: Repository,
    options: Record<string, unknown>,
    ctx: RunContext,
  ): Promise<SourceCheckResult>;
  /**
   * For `restore`: may pick, among the intact backups of the selected pipeline (oldest first), the one
   * that fits the restore target options better than `selected`; see RestoreChoice.
   */
  chooseRestoreBackup?(
    candidates: BackupEntry[],
    selected: BackupEntry,
    target: Record<string, unknown>,
    pinned: boolean,
  ): RestoreChoice;
}

export interface TransformDefinition<O extends OptionsSpec = OptionsSpec> extends DefinitionBase<O> {
  kind: 'transform';
  /** File extension appended to artifacts, e.g. `.gz`. */
  extension: string;
  /**
   * How `backup` exposes the transform as flags: `--<flag>[=<valueOption>]`, `--no-<flag>` and
   * `--<flag>-<option>` for its other options. Without it the transform is available from config only.
   */
  cli?: { flag: string; valueOption?: string; enabledByDefault?: boolean };
  /** True when the transform encrypts (satisfies sources that require encryption); encrypting stages run last. */
  encrypts?: boolean;
  /**
   * True for a compressor. A pipeline built from flags holds at most one: naming a compressor
   * (`--zstd`) turns off the one enabled by default (`gzip`), instead of compressing twice.
   */
  compresses?: boolean;
  /**
   * False when decode cannot detect tampering itself (e.g. openssl CBC); restore then verifies the
   * stored SHA-256 in a full pass before any decoded byte reaches the source.
   */
  authenticated?(params: { [key: string]: Json }): boolean;
  create(options: OptionValues<O>): Transform | Promise<Transform>;
}

export interface DestinationDefinition<O extends OptionsSpec = OptionsSpec> extends DefinitionBase<O> {
  kind: 'destination';
  /** URL schemes handled, e.g. `['s3']`; `file` also claims plain paths. */
  schemes: string[];
  /** Parses a repository URL (query options included) into options; throws a usage error on bad input. */
  fromUrl(url: URL): OptionValues<O>;
  create(options: OptionValues<O>): Destination | Promise<Destination>;
}

export type ProviderDefinition = SourceDefinition | TransformDefinition | DestinationDefinition;
export type ProviderKind = ProviderDefinition['kind'];

/** Identity helpers that keep option types precise at the definition site. */
export function defineSource<O extends OptionsSpec, R extends OptionsSpec>(
  definition: Omit<SourceDefinition<O, R>, 'kind'>,
): SourceDefinition<O, R> {
  return { kind: 'source', ...definition, create: withDeclaredRules(definition) };
}

export function defineTransform<O extends OptionsSpec>(
  definition: Omit<TransformDefinition<O>, 'kind'>,
): TransformDefinition<O> {
  return { kind: 'transform', ...definition, create: withDeclaredRules(definition) };
}

export function defineDestination<O extends OptionsSpec>(
  definition: Omit<DestinationDefinition<O>, 'kind'>,
): DestinationDefinition<O> {
  return { kind: 'destination', ...definition, create: withDeclaredRules(definition) };
}

/** `create` checks the declared option rules first, for callers that skip `resolveOptions`. */
function withDeclaredRules<O extends OptionsSpec, P>(definition: {
  name: string;
  options: O;
  create(options: OptionValues<O>): P | Promise<P>;
}): (options: OptionValues<O>) => P | Promise<P> {
  const declaresRules = Object.values(definition.options).some(
    (option) =>
      option.integer !== undefined ||
      option.min !== undefined ||
      option.max !== undefined ||
      option.pattern !== undefined ||
      option.check !== undefined,
  );
  // Without rules `create` stays exactly the provider's own (a synchronous throw stays synchronous).
  if (!declaresRules) return definition.create;
  // Async, so a broken rule rejects like any other failure of `create` instead of throwing synchronously.
  return async (options) => {
    checkOptionRules(definition.options, options as Record<string, unknown>, definition.name);
    return await definition.create(options);
  };
}
