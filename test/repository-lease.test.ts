import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  acquireLease,
  currentHolder,
  type Destination,
  LEASE_FORMAT,
  LEASE_STALE_MS,
  type LeaseRecord,
  leaseKey,
  Repository,
  readLeases,
  resolveOptions,
} from '@nexus-backup/core';
import { local } from '@nexus-backup/local';
import { sftp } from '@nexus-backup/rsync';
import { s3 } from '@nexus-backup/s3';
import { createTestContext } from '@nexus-backup/testkit';
import { type S3Server, startS3Server } from '@nexus-backup/testkit/s3';
import { type SshdHandle, startSshd } from '@nexus-backup/testkit/sshd';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';

// Issue 12 (1): leases on every destination kind, judged live or stale, honoured by prune, removed by unlock.

const ctx = createTestContext();
const cleanup: string[] = [];
afterEach(async () => {
  await Promise.all(cleanup.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

async function workDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'nexus-lease-'));
  cleanup.push(dir);
  return dir;
}

/** A process that has exited: its pid is a dead holder on this machine. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid as number;
}

function record(overrides: Partial<LeaseRecord>): LeaseRecord {
  const now = new Date().toISOString();
  return {
    format: LEASE_FORMAT,
    pipeline: 'app',
    operation: 'backup',
    host: 'other-host',
    pid: 4242,
    start: now,
    heartbeat: now,
    ...overrides,
  };
}

async function writeLease(repo: string, lease: LeaseRecord): Promise<string> {
  const key = leaseKey(lease.pipeline, lease);
  await mkdir(join(repo, lease.pipeline, '.leases'), { recursive: true });
  await writeFile(join(repo, key), JSON.stringify(lease));
  return key;
}

describe('a lease on every destination kind', () => {
  let fauxqs: S3Server;
  let s3rver: S3Server;
  let sshd: SshdHandle;
  beforeAll(async () => {
    [fauxqs, s3rver, sshd] = await Promise.all([
      startS3Server({ kind: 'fauxqs' }),
      startS3Server({ kind: 's3rver' }),
      startSshd(),
    ]);
  });
  afterAll(async () => {
    await Promise.allSettled([fauxqs?.stop(), s3rver?.stop(), sshd?.stop()]);
  });

  async function s3Destination(server: S3Server): Promise<Destination> {
    process.env.AWS_ACCESS_KEY_ID = server.credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = server.credentials.secretAccessKey;
    const url = new URL(
      `s3://${server.bucket}/lease-${randomBytes(4).toString('hex')}?region=${server.region}&endpoint=${server.endpoint}&forcePathStyle=true`,
    );
    return s3.create(
      resolveOptions(s3.options, { path: 'test', provider: 's3', values: { ...s3.fromUrl(url) } }),
    );
  }

  const kinds: [string, () => Promise<Destination>][] = [
    ['local', async () => local.create({ path: await workDir() })],
    ['s3 (fauxqs)', () => s3Destination(fauxqs)],
    ['s3 (s3rver)', () => s3Destination(s3rver)],
    [
      'sftp',
      async () => {
        const url = new URL(
          `sftp://${sshd.user}@${sshd.host}:${sshd.port}${sshd.root}/lease-${randomBytes(4).toString('hex')}?identity=${sshd.identityFile}&knownHosts=${sshd.knownHostsFile}`,
        );
        return sftp.create(
          resolveOptions(sftp.options, { path: 'test', provider: 'sftp', values: { ...sftp.fromUrl(url) } }),
        );
      },
    ],
  ];
  for (const [kind, open] of kinds) {
    it(`${kind}: is written under <pipeline>/.leases/, live while held, renewed by its heartbeat, ignored by scan, gone after release`, async () => {
      const destination = await open();
      const repository = new Repository(destination, kind);
      try {
        const lease = await acquireLease(repository, ['app'], 'backup', ctx, {
          covers: '20261206T000000Z-abcdef',
          heartbeatMs: 100,
        });
        expect(lease.keys[0]).toMatch(
          new RegExp(
            `^app/\\.leases/${hostname().replace(/[^A-Za-z0-9.-]/g, '_')}-${process.pid}-\\d{8}T\\d{9}Z\\.json$`,
          ),
        );
        const [held] = await readLeases(repository, ['app'], ctx);
        expect(held).toMatchObject({ state: 'live', reason: `pid ${process.pid} on this host is running` });
        expect(held?.record).toMatchObject({ operation: 'backup', pid: process.pid, host: hostname() });
        // Renewed: wait until a later read shows a newer heartbeat.
        for (;;) {
          const [again] = await readLeases(repository, ['app'], ctx);
          if (again?.record && again.record.heartbeat > (held?.record?.heartbeat as string)) break;
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const scan = await repository.scan(ctx);
        expect([scan.backups, scan.damaged, scan.leftovers, scan.unreadable]).toEqual([[], [], [], []]);
        await lease.release();
        expect(await readLeases(repository, ['app'], ctx)).toEqual([]);
      } finally {
        await destination.close?.();
      }
    });
  }
});

describe('lease staleness', () => {
  it('a holder on this machine is stale at once when its pid is gone; another host only after the heartbeat bound', async () => {
    const repo = await workDir();
    const here = currentHolder();
    const dead = await writeLease(repo, record({ ...here, pid: await deadPid() }));
    const fresh = await writeLease(repo, record({ pid: 1 }));
    const old = new Date(Date.now() - LEASE_STALE_MS - 60_000).toISOString();
    const silent = await writeLease(repo, record({ pid: 2, start: old, heartbeat: old }));
    const repository = new Repository(await local.create({ path: repo }));
    const leases = await readLeases(repository, ['app'], ctx);
    const state = (key: string) => leases.find((lease) => lease.key === key);
    expect(state(dead)).toMatchObject({ state: 'stale' });
    expect(state(dead)?.reason).toMatch(/pid \d+ on this host is gone/);
    expect(state(fresh)).toMatchObject({ state: 'live' });
    expect(state(silent)).toMatchObject({ state: 'stale' });
    expect(state(silent)?.reason).toMatch(/heartbeat 11min old \(stale after 10min\)/);
  });
});

describe('prune and unlock honour leases', () => {
  async function repoWithLeftover(): Promise<{ repo: string; folder: string; id: string }> {
    const repo = join(await workDir(), 'repo');
    const id = '20261206T000000Z-abcdef';
    const folder = join(repo, 'app', id);
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'files.tar.gz'), 'partial');
    return { repo, folder, id };
  }

  it('prune --grace 0 keeps a folder a live lease of another host covers, and removes it once that lease is stale', async () => {
    const { repo, folder, id } = await repoWithLeftover();
    const live = await writeLease(repo, record({ covers: id }));
    const kept = await runCli(['prune', '--from', repo, '--keep-last', '1', '--grace', '0', '--json']);
    expect(kept.code).toBe(0);
    const leftover = JSON.parse(kept.stdout).leftovers[0];
    expect(leftover).toMatchObject({ id, action: 'keep' });
    expect(leftover.reason).toContain('live lease of backup by other-host pid 4242');
    expect(await readdir(folder)).toEqual(['files.tar.gz']);

    const old = new Date(Date.now() - LEASE_STALE_MS - 60_000).toISOString();
    await rm(join(repo, live));
    await writeLease(repo, record({ covers: id, start: old, heartbeat: old }));
    const removed = await runCli(['prune', '--from', repo, '--keep-last', '1', '--grace', '0', '--json']);
    expect(removed.code).toBe(0);
    const outcome = JSON.parse(removed.stdout);
    expect(outcome.leftovers[0]).toMatchObject({ id, action: 'remove' });
    expect(outcome.staleLeases).toHaveLength(1);
    expect(await readdir(repo)).toEqual([]);
  });

  it("a mirror's lease covers every folder of its pipelines; a prune's own lease covers none", async () => {
    const { repo, id } = await repoWithLeftover();
    const mirror = await writeLease(repo, record({ operation: 'mirror', covers: '*' }));
    const covered = await runCli(['prune', '--from', repo, '--keep-last', '1', '--grace', '0', '--json']);
    expect(JSON.parse(covered.stdout).leftovers[0]).toMatchObject({ id, action: 'keep' });
    await rm(join(repo, mirror));
    await writeLease(repo, record({ operation: 'prune' }));
    const uncovered = await runCli(['prune', '--from', repo, '--keep-last', '1', '--grace', '0', '--json']);
    expect(JSON.parse(uncovered.stdout).leftovers[0]).toMatchObject({ id, action: 'remove' });
  });

  it('a leftover without any lease is kept within --grace and removed after it', async () => {
    const { repo, id } = await repoWithLeftover();
    const within = await runCli(['prune', '--from', repo, '--keep-last', '1', '--json']);
    expect(JSON.parse(within.stdout).leftovers[0]).toMatchObject({ id, action: 'keep' });
    const after = await runCli(['prune', '--from', repo, '--keep-last', '1', '--grace', '0', '--json']);
    expect(JSON.parse(after.stdout).leftovers[0]).toMatchObject({ id, action: 'remove' });
  });

  it('unlock removes stale leases, refuses a live one naming its holder (exit 64), and removes it with --force', async () => {
    const { repo } = await repoWithLeftover();
    const old = new Date(Date.now() - LEASE_STALE_MS - 60_000).toISOString();
    const stale = await writeLease(repo, record({ pid: 7, start: old, heartbeat: old }));
    const dead = await writeLease(repo, record({ ...currentHolder(), pid: await deadPid() }));
    const live = await writeLease(repo, record({ pid: 8, operation: 'mirror' }));

    const refused = await runCli(['unlock', 'app', '--from', repo]);
    expect(refused.code).toBe(64);
    expect(refused.stdout).toContain(`removed stale lease ${stale}`);
    expect(refused.stdout).toContain(`removed stale lease ${dead}`);
    expect(refused.stderr).toContain(
      `refused to remove 1 live lease(s): ${live} (mirror by other-host pid 8`,
    );
    expect(await readdir(join(repo, 'app', '.leases'))).toEqual([live.split('/').at(-1)]);

    const forced = await runCli(['unlock', '--from', repo, '--force', '--json']);
    expect(forced.code).toBe(0);
    expect(JSON.parse(forced.stdout).removed.map((lease: { key: string }) => lease.key)).toEqual([live]);
    expect(JSON.parse((await runCli(['unlock', '--from', repo, '--json'])).stdout).removed).toEqual([]);
  });
});
