import { lstat, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DrillCheck, DrillReport, Json, RestoreArtifact, RunContext } from '@nexus-backup/core';
import { restoreTar } from './restore-tar.js';
import { listStaged } from './staged-tree.js';

export interface DrillTarOptions {
  provider: string;
  artifactName: string;
  /** Credentials: every file must come back 0600 and every `.json` file must parse. */
  privateFiles: boolean;
}

/** Modes the restore must reproduce: the permission bits, without setuid/setgid (restore drops those). */
const MODE_BITS = 0o1777;

/**
 * A restore drill for a tar backup: restored into a fresh temp folder (removed again whatever happens),
 * then compared with the backup: file count and bytes as the manifest recorded them, every file's mode
 * as the archive recorded it (0600 for credentials), and every credential JSON file parsed.
 */
export async function drillTar(
  ctx: RunContext,
  artifacts: AsyncIterable<RestoreArtifact>,
  options: DrillTarOptions,
): Promise<DrillReport> {
  const scratch = await mkdtemp(join(tmpdir(), `nexus-drill-${options.provider}-`));
  const recorded: { [key: string]: Json } = {};
  async function* remembered(): AsyncIterable<RestoreArtifact> {
    for await (const artifact of artifacts) {
      Object.assign(recorded, artifact.meta);
      yield artifact;
    }
  }
  try {
    const started = Date.now();
    const result = await restoreTar(ctx, remembered(), {
      provider: options.provider,
      artifactName: options.artifactName,
      toDir: join(scratch, 'restored'),
      force: false,
      privateFiles: options.privateFiles,
    });
    const restoreMs = Date.now() - started;
    const checks: DrillCheck[] = [
      compare('files', recorded.files, result.files, 'file(s) restored'),
      compare('bytes', recorded.bytes, result.bytes, 'bytes restored'),
    ];
    const items = (await listStaged(result.target)).filter((item) => item.kind === 'file');
    const wrongModes: string[] = [];
    const unparsable: string[] = [];
    for (const item of items) {
      const path = join(result.target, item.path);
      const mode = (await lstat(path)).mode & MODE_BITS;
      const entry = result.entries.get(item.path);
      const expected = options.privateFiles ? 0o600 : (entry?.mode ?? 0o644) & MODE_BITS;
      if (mode !== expected) wrongModes.push(`${item.path} ${octal(mode)} (recorded ${octal(expected)})`);
      if (options.privateFiles && item.path.toLowerCase().endsWith('.json')) {
        if (!parses(await readFile(path, 'utf8'))) unparsable.push(item.path);
      }
    }
    checks.push(
      wrongModes.length === 0
        ? { name: 'modes', ok: true, actual: items.length }
        : { name: 'modes', ok: false, problem: `modes differ: ${wrongModes.slice(0, 10).join(', ')}` },
    );
    if (options.privateFiles) {
      checks.push(
        unparsable.length === 0
          ? { name: 'json', ok: true, actual: items.length }
          : { name: 'json', ok: false, problem: `not valid JSON: ${unparsable.join(', ')}` },
      );
    }
    const notes = recorded.files === undefined ? ['the backup recorded no file count: not compared'] : [];
    return {
      checks,
      notes,
      restoreMs,
      facts: [`${result.files} file(s), ${result.bytes} bytes`],
    };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function compare(name: string, expected: Json | undefined, actual: number, what: string): DrillCheck {
  if (expected === undefined) return { name, ok: true, actual };
  if (expected === actual) return { name, ok: true, expected, actual };
  return {
    name,
    ok: false,
    expected,
    actual,
    problem: `${actual} ${what}, the backup recorded ${String(expected)}`,
  };
}

function octal(mode: number): string {
  return `0${mode.toString(8)}`;
}

/** Never report the parser's message: V8 quotes the offending text, which is secret. */
function parses(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
