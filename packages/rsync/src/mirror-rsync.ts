import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  type Destination,
  emptyMirrorReport,
  formatBytes,
  MANIFEST_FILE,
  type MirrorReport,
  type MirrorRequest,
  NexusError,
  type RunContext,
  type ScannedFolder,
  scannedFolders,
} from '@nexus-backup/core';
import { defaultKnownHostsFile } from './host-verification.js';
import { knownHostsName } from './known-hosts.js';
import { sftpEndpointOf } from './sftp-endpoints.js';
import type { SftpOptions } from './sftp-options.js';
import { openSession } from './sftp-session.js';
import { systemSshOptions } from './system-ssh.js';

/**
 * The same mirror through the system rsync over ssh, in two passes so manifests land last:
 * 1. everything except manifest.json (rsync's delta transfer and checksums for the artifacts),
 * 2. the manifests, with --delete-after when asked.
 * Between them, every complete backup's artifacts are checked on the target against the manifest sizes.
 */
export async function mirrorWithRsync(options: MirrorRequest): Promise<MirrorReport> {
  const { source, target, ctx } = options;
  const dryRun = options.dryRun ?? false;
  const endpoint = sftpEndpointOf(target);
  if (!endpoint) {
    throw new NexusError('USAGE', `--via rsync needs an sftp:// or ssh:// target, not ${target.location}`);
  }
  const sourceDir = options.sourceDir ?? (isAbsolute(source.location) ? source.location : undefined);
  if (!sourceDir) {
    throw new NexusError('USAGE', `--via rsync needs a local source folder, not ${source.location}`, {
      hint: 'mirror without --via rsync to copy between any two repositories',
    });
  }
  if (endpoint.passwordEnv || endpoint.identityPassphraseEnv || endpoint.identityPassphraseFile) {
    throw new NexusError(
      'USAGE',
      '--via rsync runs ssh non-interactively: passwords and key passphrases are not passed to it',
      {
        provider: 'sftp',
        hint: 'load the key into ssh-agent (ssh-add), or mirror without --via rsync',
      },
    );
  }

  // Core read the source with its manifest reader and applied the empty-source guard already.
  const local = scannedFolders(options.sourceScan);
  const complete = options.sourceScan.backups;

  const scratch = await mkdtemp(join(tmpdir(), 'nexus-rsync-'));
  try {
    const ssh = await sshCommand(endpoint, target.location, scratch, ctx);
    const remote = `${endpoint.user ? `${endpoint.user}@` : ''}${endpoint.host.includes(':') ? `[${endpoint.host}]` : endpoint.host}:${endpoint.path.replace(/\/+$/, '')}/`;
    const common = [
      '-a',
      '--mkpath',
      '--exclude=.*',
      '--out-format=%i|%l|%n',
      '-e',
      ssh,
      ...(dryRun ? ['--dry-run'] : []),
    ];
    const from = `${sourceDir.replace(/\/+$/, '')}/`;

    const artifacts = await runRsync([...common, `--exclude=${MANIFEST_FILE}`, from, remote], ctx);
    if (!dryRun) await checkArtifactSizes(target, complete, ctx);
    const manifests = await runRsync(
      [...common, ...(options.delete ? ['--delete-after'] : []), from, remote],
      ctx,
    );
    return buildReport([...artifacts, ...manifests], local, dryRun, target);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** `ssh ...` for rsync -e: strict host key checking against the same known_hosts (or pinned key). */
async function sshCommand(
  endpoint: SftpOptions,
  label: string,
  scratch: string,
  ctx: RunContext,
): Promise<string> {
  let knownHosts = endpoint.knownHosts ?? defaultKnownHostsFile();
  if (endpoint.fingerprint) {
    // ssh cannot pin a fingerprint: verify the key through ssh2 first, then hand ssh exactly that key.
    const session = await openSession(endpoint, label, ctx);
    const key = session.hostKey;
    await session.end();
    if (!key) throw new NexusError('INTERNAL', 'the pinned host key was not captured', { provider: 'sftp' });
    const type = key.subarray(4, 4 + key.readUInt32BE(0)).toString('latin1');
    knownHosts = join(scratch, 'known_hosts');
    await writeFile(
      knownHosts,
      `${knownHostsName(endpoint.host, endpoint.port)} ${type} ${key.toString('base64')}\n`,
    );
  }
  const args = ['ssh', ...systemSshOptions(endpoint, knownHosts)];
  return args.map(quoteForRsync).join(' ');
}

/** rsync splits -e on spaces and honours quotes. */
function quoteForRsync(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'"'"'`)}'`;
}

interface ItemizedChange {
  kind: 'copy' | 'delete';
  path: string;
  bytes: number;
}

async function runRsync(args: string[], ctx: RunContext): Promise<ItemizedChange[]> {
  ctx.signal.throwIfAborted();
  const child = spawn('rsync', args, { stdio: ['ignore', 'pipe', 'pipe'], signal: ctx.signal });
  const changes: ItemizedChange[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => {
    stderr = (stderr + text).slice(-4000);
  });
  const lines = createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    const change = parseItemized(line);
    if (change) changes.push(change);
  });
  const exit = await new Promise<number | string>((resolve, reject) => {
    child.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') {
        reject(
          new NexusError('USAGE', 'rsync is not installed', {
            hint: 'install it (apt-get install rsync) on both hosts, or mirror without --via rsync',
          }),
        );
      } else if (ctx.signal.aborted) {
        reject(new NexusError('ABORTED', 'the operation was aborted', { cause: error }));
      } else reject(error);
    });
    child.once('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  if (exit !== 0) {
    const detail = stderr.trim().split('\n').slice(-5).join('; ');
    const hostKey = /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED/i.test(stderr);
    throw new NexusError('CONNECTION', `rsync failed (exit ${exit}): ${detail}`, {
      provider: 'sftp',
      hint: hostKey
        ? 'the host key is unknown or changed: compare it with ssh-keyscan and update known_hosts'
        : 'check that rsync is installed on the remote host and that the login works with ssh',
    });
  }
  return changes;
}

/** `%i|%l|%n` lines: `<f+++++++++|123|db/2026.../file` for sent files, `*deleting  |0|path` for deletions. */
function parseItemized(line: string): ItemizedChange | undefined {
  const [flags, length, ...rest] = line.split('|');
  const path = rest.join('|');
  if (!flags || !path || path.endsWith('/')) return undefined;
  if (flags.startsWith('*deleting')) return { kind: 'delete', path, bytes: 0 };
  if (flags.startsWith('<f') || flags.startsWith('>f'))
    return { kind: 'copy', path, bytes: Number(length) || 0 };
  return undefined;
}

/** Every complete backup's artifacts are on the target at their manifest sizes, before any manifest goes over. */
async function checkArtifactSizes(
  target: Destination,
  backups: MirrorRequest['sourceScan']['backups'],
  ctx: RunContext,
): Promise<void> {
  const sizes = new Map<string, number>();
  for await (const object of target.list('', ctx)) sizes.set(object.key, object.bytes);
  for (const backup of backups) {
    for (const artifact of backup.manifest.artifacts) {
      const key = `${backup.pipeline}/${backup.id}/${artifact.file}`;
      const stored = sizes.get(key);
      if (stored !== artifact.stored.bytes) {
        throw new NexusError(
          'INTEGRITY',
          `after rsync, ${target.location}/${key} has ${stored ?? 'no'} bytes instead of the ${artifact.stored.bytes} in its manifest; manifests were not copied`,
          { provider: 'sftp', hint: 'check the local backup with `nexus-backup verify`, then mirror again' },
        );
      }
    }
  }
}

function buildReport(
  changes: ItemizedChange[],
  local: Map<string, ScannedFolder>,
  dryRun: boolean,
  target: Destination,
): MirrorReport {
  const report = emptyMirrorReport('rsync', dryRun);
  const would = dryRun ? 'would ' : '';
  const backupOf = (path: string) => path.split('/').slice(0, 2).join('/');
  const copies = new Map<string, Map<string, number>>();
  const deletions = new Set<string>();
  for (const change of changes) {
    const backup = backupOf(change.path);
    if (change.kind === 'delete') {
      if (!local.has(backup)) deletions.add(backup);
      continue;
    }
    const files = copies.get(backup) ?? new Map<string, number>();
    files.set(change.path, change.bytes); // a dry run lists artifacts in both passes
    copies.set(backup, files);
  }
  for (const [backup, files] of copies) {
    const bytes = [...files.values()].reduce((sum, size) => sum + size, 0);
    report.copied.push({ backup, files: files.size, bytes });
    report.bytesCopied += bytes;
    report.lines.push(`${would}copy ${backup} (${files.size} files, ${formatBytes(bytes)})`);
  }
  for (const backup of deletions) {
    report.deleted.push(backup);
    report.lines.push(`${would}delete ${backup} from ${target.location}`);
  }
  for (const [name, folder] of local) {
    if (folder.state === 'leftover')
      report.skipped.push({
        backup: name,
        reason: 'no manifest yet: its files were copied, it stays invisible',
      });
    else if (!copies.has(name)) report.unchanged.push(name);
  }
  report.lines.push(
    `mirror via rsync to ${target.location}: ${would}copy ${report.copied.length} backups (${formatBytes(report.bytesCopied)}), ${report.unchanged.length} unchanged, ${would}delete ${report.deleted.length}`,
  );
  return report;
}
