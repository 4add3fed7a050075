import { parseConfig, parseRecoveryPoint } from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';

const PIPELINES = `
pipelines:
  database: { source: { use: postgres }, to: [ /backups ] }
  credentials: { source: { use: credentials, dir: ./credentials }, to: [ /backups ] }
`;

function load(recovery: string) {
  return parseConfig(`${PIPELINES}recovery:\n${recovery}`, { file: '/srv/app/nexus-backup.yaml', env: {} });
}

function problem(recovery: string): string {
  try {
    load(recovery);
  } catch (error) {
    return (error as Error).message.replace(/ \(\/srv\/app\/nexus-backup\.yaml:\d+:\d+\)$/, '');
  }
  throw new Error('expected a config error');
}

describe('recovery: in the config', () => {
  it('reads the plan with its defaults, resolving folders against the config file', () => {
    const config = load(`
  stop: docker compose stop proxy
  start: [ "docker compose up -d proxy" ]
  restore:
    - { pipeline: database }
    - { pipeline: credentials, toDir: ./credentials }
  checks:
    - { http: "http://localhost:8080/health" }
    - { sql: "select 1", pipeline: database }
    - { command: "true" }
`);
    expect(config.recovery).toMatchObject({
      stop: ['docker compose stop proxy'],
      start: ['docker compose up -d proxy'],
      restore: [
        { pipeline: 'database', target: {} },
        { pipeline: 'credentials', target: { toDir: '/srv/app/credentials' } },
      ],
      checks: [
        { kind: 'http', url: 'http://localhost:8080/health', status: 200 },
        { kind: 'sql', sql: 'select 1', pipeline: 'database' },
        { kind: 'command', command: 'true' },
      ],
      timeoutMs: 60_000,
      intervalMs: 2_000,
      rollbackOnFailure: true,
      journalDir: '/srv/app/.nexus-recovery',
    });
  });

  it.each([
    [
      '  restore: [ { pipeline: databse } ]',
      'recovery.restore[0].pipeline: names no pipeline of this config; pipelines: database, credentials',
    ],
    ['  restore: []', 'recovery.restore: lists nothing to restore'],
    [
      '  restore: [ { pipeline: database }, { pipeline: database } ]',
      'recovery.restore: restores pipeline database twice',
    ],
    [
      '  restore: [ { pipeline: database } ]\n  checks: [ { http: "ftp://x" } ]',
      'recovery.checks[0].http: must be an http:// or https:// URL',
    ],
    [
      '  restore: [ { pipeline: database } ]\n  checks: [ { sql: "select 1", command: "true" } ]',
      'recovery.checks[0]: must have exactly one of http, sql or command',
    ],
    ['  restore: [ { pipeline: database } ]\n  timeout: soon', 'recovery.timeout: invalid duration "soon"'],
    [
      '  restore: [ { pipeline: database } ]\n  stopp: [ x ]',
      'recovery.stopp: unknown key; did you mean stop?',
    ],
  ])('refuses %j naming the key', (recovery, message) => {
    expect(problem(recovery)).toContain(message);
  });
});

describe('--at', () => {
  it('reads latest, a backup id (its whole second) and a UTC time', () => {
    expect(parseRecoveryPoint(undefined)).toBeUndefined();
    expect(parseRecoveryPoint('latest')).toBeUndefined();
    expect(parseRecoveryPoint('20261201T030000Z-3f9a1c')?.toISOString()).toBe('2026-12-01T03:00:00.999Z');
    expect(parseRecoveryPoint('2026-12-01 03:00')?.toISOString()).toBe('2026-12-01T03:00:00.000Z');
    expect(parseRecoveryPoint('2026-12-01T03:00:00+01:00')?.toISOString()).toBe('2026-12-01T02:00:00.000Z');
  });

  it('refuses anything else as a usage error', () => {
    expect(() => parseRecoveryPoint('yesterday-ish')).toThrow(
      /--at "yesterday-ish" is not latest, a backup id or a time/,
    );
  });
});
