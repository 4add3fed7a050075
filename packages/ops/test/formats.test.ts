import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Manifest, RepositoryScan } from '@nexus-backup/core';
import { NexusError } from '@nexus-backup/core';
import { afterEach, describe, expect, it } from 'vitest';
import { evaluateFreshness } from '../src/freshness.js';
import { httpPost } from '../src/http-post.js';
import { healthchecksUrl, webhookBody } from '../src/notify.js';
import { renderPrometheus } from '../src/prometheus.js';

function manifest(
  pipeline: string,
  id: string,
  startedAt: string,
  finishedAt: string,
  bytes: number,
): Manifest {
  const digest = { bytes, sha256: '0'.repeat(64) };
  return {
    format: 'nexus-backup-manifest',
    version: 1,
    id,
    pipeline,
    startedAt,
    finishedAt,
    host: 'test',
    tool: { name: 'nexus-backup', version: '0' },
    source: { provider: 'files', version: '0', description: {} },
    transforms: [],
    artifacts: [{ name: 'a', file: 'a', stored: digest, raw: digest, meta: {} }],
  };
}

function scanOf(entries: Manifest[], unreadable: { pipeline: string; id: string }[] = []): RepositoryScan {
  return {
    backups: entries.map((m) => ({
      pipeline: m.pipeline,
      id: m.id,
      time: new Date(m.startedAt),
      manifest: m,
      storedBytes: 0,
    })),
    damaged: [],
    leftovers: [],
    unreadable: unreadable.map((u) => ({
      ...u,
      error: new NexusError('INTEGRITY', 'manifest x is not valid JSON'),
    })),
  };
}

describe('healthchecks ping URLs', () => {
  it('appends /start and /fail to the path, before any query, and leaves success as given', () => {
    expect(healthchecksUrl('https://hc-ping.com/abc', 'start')).toBe('https://hc-ping.com/abc/start');
    expect(healthchecksUrl('https://hc-ping.com/abc/', 'fail')).toBe('https://hc-ping.com/abc/fail');
    expect(healthchecksUrl('https://hc.example/ping/key/db?create=1', 'start')).toBe(
      'https://hc.example/ping/key/db/start?create=1',
    );
    expect(healthchecksUrl('https://hc-ping.com/abc?rid=1', 'success')).toBe('https://hc-ping.com/abc?rid=1');
  });
});

describe('webhook body', () => {
  it('carries the same text as Slack `text` and Discord `content`, cut below Discord’s 2,000 characters', () => {
    const body = JSON.parse(webhookBody('x'.repeat(5000)));
    expect(Object.keys(body).sort()).toEqual(['content', 'text']);
    expect(body.text).toBe(body.content);
    expect(body.text.length).toBeLessThanOrEqual(1900);
    expect(body.text.endsWith('…')).toBe(true);
    expect(JSON.parse(webhookBody('short')).text).toBe('short');
  });
});

describe('freshness', () => {
  const now = new Date('2026-01-02T00:00:00Z');
  it('judges the newest complete backup and counts every unreadable manifest as a problem', () => {
    const old = manifest('db', '20260101T000000Z-aaaaaa', '2026-01-01T00:00:00Z', '2026-01-01T00:10:00Z', 10);
    const newest = manifest(
      'db',
      '20260101T120000Z-bbbbbb',
      '2026-01-01T12:00:00Z',
      '2026-01-01T12:30:00Z',
      500,
    );
    const scan = scanOf([old, newest], [{ pipeline: 'db', id: '20260101T060000Z-cccccc' }]);
    const [result] = evaluateFreshness(
      scan,
      [{ name: 'db', policy: { maxAgeMs: 12 * 3600_000, minSize: 500 } }],
      'repo',
      now,
    );
    expect(result?.newest).toMatchObject({
      id: newest.id,
      bytes: 500,
      durationMs: 30 * 60_000,
      ageMs: 12 * 3600_000,
    });
    // Exactly max-age old still passes; the damaged manifest does not.
    expect(result?.problems.map((problem) => problem.kind)).toEqual(['unverifiable']);
    expect(result?.problems[0]?.message).toBe(
      'db: unverifiable manifest in 20260101T060000Z-cccccc: manifest x is not valid JSON',
    );
  });

  it('reports stale and too small together, and missing for a pipeline with only a damaged backup', () => {
    const only = manifest(
      'db',
      '20260101T000000Z-aaaaaa',
      '2026-01-01T00:00:00Z',
      '2026-01-01T00:00:01Z',
      10,
    );
    const scan = scanOf([only], [{ pipeline: 'web', id: '20260101T000000Z-dddddd' }]);
    const results = evaluateFreshness(
      scan,
      [
        { name: 'db', policy: { maxAgeMs: 3600_000, minSize: 11 } },
        { name: 'web', policy: { maxAgeMs: 3600_000 } },
      ],
      'repo',
      now,
    );
    expect(
      results.map((result) => [result.pipeline, result.ok, result.problems.map((problem) => problem.kind)]),
    ).toEqual([
      ['db', false, ['stale', 'too-small']],
      ['web', false, ['unverifiable', 'missing']],
    ]);
  });
});

describe('prometheus textfile', () => {
  it('escapes label values and gives a missing pipeline only its check gauges', () => {
    const text = renderPrometheus(
      [
        {
          pipeline: 'db',
          ok: false,
          problems: [{ pipeline: 'db', kind: 'missing', message: 'db: missing' }],
        },
      ],
      's3://bucket/"odd"\\path\nx',
      new Date(1_700_000_000_000),
    );
    const labels = '{pipeline="db",repository="s3://bucket/\\"odd\\"\\\\path\\nx"}';
    expect(text).toContain(`nexus_backup_check_ok${labels} 0\n`);
    expect(text).toContain(`nexus_backup_check_problems${labels} 1\n`);
    expect(text).not.toMatch(/^nexus_backup_last_/m);
    expect(text).toContain(
      'nexus_backup_check_timestamp_seconds{repository="s3://bucket/\\"odd\\"\\\\path\\nx"} 1700000000\n',
    );
    for (const line of text.trimEnd().split('\n'))
      expect(line).toMatch(/^(# (HELP|TYPE) \w+ .+|\w+\{.*\} [\d.e+-]+)$/);
  });
});

describe('http calls of notifiers', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    server = undefined;
  });

  it('give up after their timeout against a server that never answers, naming the host only', async () => {
    server = createServer(() => {
      // Accepts the request and never answers.
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    const failure = await httpPost(
      `http://127.0.0.1:${port}/hooks/SECRET`,
      '{}',
      'application/json',
      300,
    ).then(
      () => undefined,
      (error: unknown) => error as NexusError,
    );
    expect(failure?.message).toBe(`127.0.0.1:${port}: no answer within 0.3s`);
  });
});
