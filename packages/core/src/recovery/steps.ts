import { spawn } from 'node:child_process';
import type { HealthCheckConfig } from '../config/recovery.js';
import type { Logger } from '../contracts.js';

export interface StepOutcome {
  ok: boolean;
  /** Why it failed, one line (the tail of a command's output, an HTTP status). */
  problem?: string;
}

/**
 * Runs one operator command through `sh -c` in `cwd` (what a person would type: `docker compose down`).
 * Its output goes to our log line by line; a command still running after `timeoutMs` is killed.
 */
export function runCommand(
  command: string,
  options: { cwd: string; timeoutMs: number; log: Logger; env?: NodeJS.ProcessEnv },
): Promise<StepOutcome> {
  return new Promise((resolve) => {
    const child = spawn('sh', ['-c', command], {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group, so a timeout kills what it started too
    });
    let tail = '';
    const collect = (chunk: Buffer) => {
      const text = chunk.toString();
      for (const line of text.split('\n')) if (line.trim()) options.log.debug(`  | ${line}`);
      tail = (tail + text).slice(-400);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, options.timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      resolve({ ok: false, problem: error.message });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve({ ok: true });
      const last = tail.trim().split('\n').pop() ?? '';
      const why = timedOut
        ? `timed out after ${options.timeoutMs / 1000}s`
        : `exited ${code ?? signal}${last ? `: ${last}` : ''}`;
      resolve({ ok: false, problem: why });
    });
  });
}

export interface CheckOptions {
  cwd: string;
  timeoutMs: number;
  intervalMs: number;
  log: Logger;
  signal: AbortSignal;
  /** Runs a `sql` check against the live database of a restored pipeline. */
  query(check: Extract<HealthCheckConfig, { kind: 'sql' }>): Promise<boolean>;
}

/** Tries one health check until it passes or its time is up (a service takes a while to come up). */
export async function runHealthCheck(check: HealthCheckConfig, options: CheckOptions): Promise<StepOutcome> {
  const deadline = Date.now() + options.timeoutMs;
  let last: StepOutcome = { ok: false, problem: 'not run' };
  for (let attempt = 1; ; attempt += 1) {
    const left = Math.max(1000, deadline - Date.now());
    last = await tryOnce(check, { ...options, timeoutMs: left });
    if (last.ok) return last;
    options.log.debug(`  ${describeCheck(check)}: attempt ${attempt} failed: ${last.problem}`);
    if (Date.now() + options.intervalMs >= deadline || options.signal.aborted) return last;
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs));
  }
}

async function tryOnce(check: HealthCheckConfig, options: CheckOptions): Promise<StepOutcome> {
  try {
    if (check.kind === 'http') {
      const response = await fetch(check.url, { signal: AbortSignal.timeout(options.timeoutMs) });
      await response.body?.cancel();
      return response.status === check.status
        ? { ok: true }
        : { ok: false, problem: `HTTP ${response.status}, expected ${check.status}` };
    }
    if (check.kind === 'sql') {
      return (await options.query(check))
        ? { ok: true }
        : { ok: false, problem: 'the query did not return true' };
    }
    return await runCommand(check.command, options);
  } catch (error) {
    return { ok: false, problem: (error as Error).message };
  }
}

export function describeCheck(check: HealthCheckConfig): string {
  if (check.kind === 'http') {
    const url = new URL(check.url); // the query may hold a token: show origin and path only
    return `GET ${url.origin}${url.pathname} -> ${check.status}`;
  }
  if (check.kind === 'sql') return `sql: ${check.sql}`;
  return `command: ${check.command}`;
}
