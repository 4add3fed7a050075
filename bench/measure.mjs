// Runs a command or a shell pipeline and measures it: wall time from here, and per process CPU time
// and peak RSS from GNU time (`/usr/bin/time`), which reads them from wait4() when each stage exits.
// A pipeline's peak RSS is the sum of its stages' peaks: an upper bound of what it held at once.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GNU_TIME = '/usr/bin/time';
export const canMeasureMemory = existsSync(GNU_TIME);

/** Quotes one word for bash. */
export const sh = (word) => `'${String(word).replaceAll("'", "'\\''")}'`;

/**
 * @param {string[][]} stages argv of each stage, joined with `|`
 * @param {{ env?: object, input?: string, output?: string, cwd?: string, prelude?: string[] }} options
 *   files for stdin/stdout; `prelude` runs first (e.g. createdb), inside the wall time
 * @returns {Promise<{ wall: number, cpu: number, rssMiB: number | undefined, stages: object[] }>}
 */
export async function measure(stages, options = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-bench-time-'));
  try {
    const timed = stages.map((argv, index) => {
      const words = argv.map(sh).join(' ');
      return canMeasureMemory
        ? `${GNU_TIME} -f '%e %U %S %M' -o ${sh(join(dir, `${index}`))} ${words}`
        : words;
    });
    let script = `set -o pipefail; ${options.prelude ? `${options.prelude.map(sh).join(' ')} && ` : ''}${timed.join(' | ')}`;
    if (options.input) script += ` < ${sh(options.input)}`;
    script += options.output ? ` > ${sh(options.output)}` : ' > /dev/null';
    const started = process.hrtime.bigint();
    const { code, stderr } = await runBash(script, options);
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    if (code !== 0) {
      throw new Error(`exit ${code}: ${stages.map((argv) => argv[0]).join(' | ')}\n${stderr.slice(-2000)}`);
    }
    const perStage = canMeasureMemory
      ? await Promise.all(stages.map((_, i) => readTiming(join(dir, `${i}`))))
      : [];
    const cpu = perStage.reduce((sum, stage) => sum + stage.cpu, 0);
    const rssMiB = canMeasureMemory ? perStage.reduce((sum, stage) => sum + stage.rssMiB, 0) : undefined;
    return { wall, cpu: canMeasureMemory ? cpu : undefined, rssMiB, stages: perStage };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function readTiming(file) {
  // GNU time writes "Command exited with non-zero status N" first when a stage fails.
  const line = (await readFile(file, 'utf8')).trim().split('\n').at(-1) ?? '';
  const [, user, system, maxRssKiB] = line.split(' ').map(Number);
  return { cpu: user + system, rssMiB: maxRssKiB / 1024 };
}

function runBash(script, options) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', script], {
      cwd: options.cwd,
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk) => {
      stderr = (stderr + chunk.toString()).slice(-20_000);
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stderr }));
  });
}
