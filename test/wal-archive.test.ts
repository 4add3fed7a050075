import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CLI_BIN, copySampleService, runCli, tempDir } from './helpers/cli.js';
import { type HttpListener, startHttpListener } from './ops-support.js';

const SEGMENT = '000000010000000000000003';
const SEGMENT_BYTES = 16 * 1024 * 1024;

// wal push / wal fetch as PostgreSQL calls them (archive_command, restore_command), no server needed.
describe('wal push and wal fetch', () => {
  let dir: string;
  let repo: string;
  let pgWal: string;

  beforeEach(async () => {
    dir = await tempDir('wal');
    repo = join(dir, 'backups');
    pgWal = join(dir, 'pg_wal');
    await mkdir(pgWal);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function walFile(name: string, bytes = SEGMENT_BYTES): Promise<Buffer> {
    const content = randomBytes(bytes);
    await writeFile(join(pgWal, name), content);
    return content;
  }
  const push = (name: string, ...extra: string[]) =>
    runCli(['wal', 'push', join(pgWal, name), '--to', repo, ...extra]);
  const fetch = (name: string, target: string, ...extra: string[]) =>
    runCli(['wal', 'fetch', name, target, '--from', repo, ...extra]);

  it('pushing the same segment twice succeeds, and different content under its name is refused and never stored', async () => {
    const original = await walFile(SEGMENT);
    expect((await push(SEGMENT)).code).toBe(0);
    expect((await push(SEGMENT)).code).toBe(0);

    await writeFile(join(pgWal, SEGMENT), randomBytes(SEGMENT_BYTES));
    const overwrite = await push(SEGMENT);
    expect(overwrite.code).toBe(2);
    expect(overwrite.stderr).toContain(`${SEGMENT} is already archived`);
    expect(overwrite.stderr).toContain('refusing to overwrite');

    const restored = join(dir, 'restored');
    expect((await fetch(SEGMENT, restored)).code).toBe(0);
    expect((await readFile(restored)).equals(original)).toBe(true);
  });

  it('fetching a file the archive does not hold exits 1 and writes nothing', async () => {
    await walFile(SEGMENT);
    expect((await push(SEGMENT)).code).toBe(0);
    const target = join(dir, 'out', 'RECOVERYXLOG');
    await mkdir(join(dir, 'out'));
    const missing = await fetch('000000010000000000000004', target);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('000000010000000000000004 is not in');
    expect(await readdir(join(dir, 'out'))).toEqual([]);
  });

  it('a damaged stored segment is refused with exit 2 and nothing at the target, not even a temp file', async () => {
    await walFile(SEGMENT);
    expect((await push(SEGMENT)).code).toBe(0);
    const stored = join(repo, 'wal', 'wal', `${SEGMENT}.gz`);
    const bytes = await readFile(stored);
    bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] as number) ^ 0xff;
    await writeFile(stored, bytes);

    await mkdir(join(dir, 'out'));
    const damaged = await fetch(SEGMENT, join(dir, 'out', 'RECOVERYXLOG'));
    expect(damaged.code).toBe(2);
    expect(damaged.stderr).toContain(`stored ${SEGMENT}.gz does not match`);
    expect(await readdir(join(dir, 'out'))).toEqual([]);
  });

  it('an encrypted, compressed WAL pipeline round-trips history, backup-label and partial files byte for byte', async () => {
    const env = { NEXUS_BACKUP_PASSPHRASE: 'wal archive test' };
    const names = ['00000002.history', `${SEGMENT}.00000028.backup`, `${SEGMENT}.partial`];
    for (const name of names) {
      const content = await walFile(name, name.endsWith('.partial') ? SEGMENT_BYTES : 300);
      const pushed = await runCli(
        ['wal', 'push', join(pgWal, name), '--to', repo, '--transforms', 'gzip,aes'],
        {
          env,
        },
      );
      expect(pushed.code).toBe(0);
      const target = join(dir, `restored-${name}`);
      expect((await runCli(['wal', 'fetch', name, target, '--from', repo], { env })).code).toBe(0);
      expect((await readFile(target)).equals(content)).toBe(true);
    }
    expect((await readdir(join(repo, 'wal', 'wal'))).sort()).toContain('00000002.history.gz.aes');
    const wrongPassphrase = await runCli(
      ['wal', 'fetch', names[0] as string, join(dir, 'x'), '--from', repo],
      {
        env: { NEXUS_BACKUP_PASSPHRASE: 'not it' },
      },
    );
    expect(wrongPassphrase.code).toBe(2);
    expect(await readdir(dir)).not.toContain('x');
  });

  it('a push killed with SIGKILL mid-upload leaves nothing that wal fetch returns', async () => {
    await walFile(SEGMENT, 8 * SEGMENT_BYTES);
    const walFolder = join(repo, 'wal', 'wal');
    const child = spawn(process.execPath, [CLI_BIN, 'wal', 'push', join(pgWal, SEGMENT), '--to', repo], {
      stdio: 'ignore',
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    // Kill once the upload's temp file exists, i.e. in the middle of writing the stored bytes.
    for (;;) {
      const entries = await readdir(walFolder).catch(() => []);
      if (entries.some((entry) => entry.includes('.tmp-'))) break;
      if (child.exitCode !== null) throw new Error('the push finished before it could be killed');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    child.kill('SIGKILL');
    await exited;

    await mkdir(join(dir, 'out'));
    const fetched = await fetch(SEGMENT, join(dir, 'out', 'RECOVERYXLOG'));
    expect(fetched.code).toBe(1);
    expect(await readdir(join(dir, 'out'))).toEqual([]);
    // PostgreSQL retries the push; the retry completes the archive.
    expect((await push(SEGMENT)).code).toBe(0);
    expect((await fetch(SEGMENT, join(dir, 'out', 'RECOVERYXLOG'))).code).toBe(0);
  });

  it("with --config, wal push takes the pipeline's repositories and transforms, so archive_command stays short", async () => {
    const config = join(dir, 'nexus-backup.yaml');
    await writeFile(
      config,
      [
        'repositories:',
        `  local: ${repo}`,
        'pipelines:',
        '  pg:',
        '    source: { use: pgbase, pgdata: /var/lib/postgresql/data, db: "postgresql://postgres@127.0.0.1/postgres", walPipeline: pg }',
        '    transforms: [ { use: gzip, level: 1 }, aes ]',
        '    to: [ local ]',
        '',
      ].join('\n'),
    );
    const passphrase = join(dir, 'passphrase');
    await writeFile(passphrase, 'config test\n', { mode: 0o600 });
    const content = await walFile(SEGMENT);
    const pushed = await runCli([
      ...['--config', config, '--passphrase-file', passphrase],
      ...['wal', 'push', join(pgWal, SEGMENT), '--pipeline', 'pg'],
    ]);
    expect({ code: pushed.code, stderr: pushed.stderr }).toEqual({ code: 0, stderr: '' });
    expect(await readdir(join(repo, 'pg', 'wal'))).toEqual([`${SEGMENT}.gz.aes`, `${SEGMENT}.json`]);
    const target = join(dir, 'fetched');
    const fetched = await runCli([
      ...['--passphrase-file', passphrase],
      ...['wal', 'fetch', SEGMENT, target, '--from', repo, '--pipeline', 'pg'],
    ]);
    expect(fetched.code).toBe(0);
    expect((await readFile(target)).equals(content)).toBe(true);
  });

  it('async mode: wal push --spool only spools (fsynced), and wal daemon --once archives and empties the spool', async () => {
    const spool = join(dir, 'spool');
    const names = ['000000010000000000000001', '000000010000000000000002', '00000002.history'];
    const contents = new Map<string, Buffer>();
    for (const name of names) {
      contents.set(name, await walFile(name, 4096));
      const spooled = await runCli(['wal', 'push', join(pgWal, name), '--spool', spool]);
      expect(spooled.code).toBe(0);
    }
    // Pushing again is fine (PostgreSQL retries); different content under a spooled name is not.
    expect((await runCli(['wal', 'push', join(pgWal, names[0] as string), '--spool', spool])).code).toBe(0);
    await writeFile(join(pgWal, names[0] as string), randomBytes(4096));
    const different = await runCli(['wal', 'push', join(pgWal, names[0] as string), '--spool', spool]);
    expect(different.code).toBe(2);
    expect(different.stderr).toContain('already spooled');
    expect((await readdir(spool)).sort()).toEqual([...names].sort());
    // Nothing reached the repository yet (it does not even exist): recovery sees a non-zero exit.
    const early = await fetch(names[0] as string, join(dir, 'early'));
    expect(early.code).toBe(2);
    expect(early.stderr).toContain('does not exist');

    const drained = await runCli(['wal', 'daemon', '--spool', spool, '--to', repo, '--once']);
    expect({ code: drained.code, stderr: drained.stderr }).toEqual({
      code: 0,
      stderr: expect.stringContaining('archived 3 spooled WAL file(s)'),
    });
    expect(await readdir(spool)).toEqual([]);
    for (const name of names) {
      const target = join(dir, `fetched-${name}`);
      expect((await fetch(name, target)).code).toBe(0);
      expect((await readFile(target)).equals(contents.get(name) as Buffer)).toBe(true);
    }
  });

  it('wal fetch --prefetch fetches the next segments verified beside %p, serves the next call from them, and never prefetches a damaged one', async () => {
    const names = [1, 2, 3, 4].map((seg) => `00000001000000000000000${seg}`);
    const contents = new Map<string, Buffer>();
    for (const name of names) {
      contents.set(name, await walFile(name, 64 * 1024));
      expect((await push(name)).code).toBe(0);
    }
    const stored3 = join(repo, 'wal', 'wal', `${names[2]}.gz`);
    const original3 = await readFile(stored3);
    const damaged = Buffer.from(original3);
    damaged[damaged.length >> 1] = (damaged[damaged.length >> 1] as number) ^ 0xff;
    await writeFile(stored3, damaged);

    const recovery = join(dir, 'restored', 'pg_wal');
    await mkdir(recovery, { recursive: true });
    const target = join(recovery, 'RECOVERYXLOG');
    const ahead = join(recovery, '.nexus-prefetch');
    const first = await fetch(names[0] as string, target, '--prefetch', '2');
    expect({ code: first.code, stderr: first.stderr }).toEqual({ code: 0, stderr: '' });
    expect((await readFile(target)).equals(contents.get(names[0] as string) as Buffer)).toBe(true);
    // Segment 2 was fetched ahead; the damaged segment 3 was not.
    expect(await readdir(ahead)).toEqual([names[1]]);
    await rm(target);

    // The next call takes segment 2 from the prefetch folder: the archive no longer needs to hold it.
    await rm(join(repo, 'wal', 'wal', `${names[1]}.json`));
    const second = await fetch(names[1] as string, target, '--prefetch', '2');
    expect({ code: second.code, stderr: second.stderr }).toEqual({ code: 0, stderr: '' });
    expect((await readFile(target)).equals(contents.get(names[1] as string) as Buffer)).toBe(true);
    expect(await readdir(ahead)).toEqual([]);
    await rm(target);

    // Asked for, the damaged segment is refused as always: exit 2, nothing at %p.
    const third = await fetch(names[2] as string, target, '--prefetch', '2');
    expect(third.code).toBe(2);
    expect(await readdir(recovery)).toEqual(['.nexus-prefetch']);
  });

  it('wal verify names a deleted segment as a gap and exits 2', async () => {
    for (let seg = 1; seg <= 5; seg += 1) {
      const name = `0000000100000000000000${seg.toString(16).toUpperCase().padStart(2, '0')}`;
      await walFile(name, 1024);
      expect((await push(name, '--transforms', 'none')).code).toBe(0);
    }
    const complete = await runCli(['wal', 'verify', '--from', repo]);
    expect(complete.code).toBe(0);
    expect(complete.stdout).toContain(
      'timeline 1: 000000010000000000000001..000000010000000000000005 complete',
    );

    const verified = await runCli(['verify', 'wal', '--from', repo]);
    expect(verified.code).toBe(0);
    expect(verified.stderr).toContain(
      'WAL wal timeline 1: 000000010000000000000001..000000010000000000000005 complete',
    );

    await rm(join(repo, 'wal', 'wal', '000000010000000000000003.json'));
    const gap = await runCli(['wal', 'verify', '--from', repo]);
    expect(gap.code).toBe(2);
    expect(gap.stdout).toContain('MISSING 000000010000000000000003');
    // `verify` of the WAL pipeline runs the same continuity check, for the operator's usual command.
    const verifyGap = await runCli(['verify', 'wal', '--from', repo]);
    expect(verifyGap.code).toBe(2);
    expect(verifyGap.stderr).toContain(
      'WAL wal timeline 1: 000000010000000000000001..000000010000000000000005 MISSING 000000010000000000000003',
    );
    expect(verifyGap.stderr).toContain('0 backup(s) and 1 archive(s) checked, 1 failed');
    const json = JSON.parse((await runCli(['verify', 'wal', '--from', repo, '--json'])).stdout);
    expect(json.ok).toBe(false);
    expect(json.data[0].details.timelines[0].gaps).toEqual(['000000010000000000000003']);
  });
});

describe('check --max-wal-age', () => {
  let dir: string;
  let repo: string;
  let listener: HttpListener | undefined;
  beforeEach(async () => {
    dir = await tempDir('wal-check');
    repo = join(dir, 'backups');
    // A backup for `--max-age`: the WAL pipeline has no manifests, its freshness is the archive's.
    const service = await copySampleService();
    try {
      const backup = await runCli(['backup', 'files', '.env', '--to', repo, '--pipeline', 'config'], {
        cwd: service,
      });
      expect(backup.code).toBe(0);
    } finally {
      await rm(dirname(service), { recursive: true, force: true });
    }
    await mkdir(join(dir, 'pg_wal'));
    await writeFile(join(dir, 'pg_wal', SEGMENT), randomBytes(1024));
    expect((await runCli(['wal', 'push', join(dir, 'pg_wal', SEGMENT), '--to', repo])).code).toBe(0);
  });
  afterEach(async () => {
    await listener?.close();
    listener = undefined;
    await rm(dir, { recursive: true, force: true });
  });
  /** Makes the newest archived WAL file look archived `minutes` ago (the repository's own file time). */
  const archivedAgo = (minutes: number) => {
    const when = new Date(Date.now() - minutes * 60_000);
    return utimes(join(repo, 'wal', 'wal', `${SEGMENT}.json`), when, when);
  };

  it('15m means 15 minutes: a WAL file archived 10 minutes ago passes', async () => {
    await archivedAgo(10);
    const check = await runCli(['check', '--from', repo, '--max-age', '26h', '--max-wal-age', '15m']);
    expect({ code: check.code, stderr: check.stderr }).toEqual({ code: 0, stderr: '' });
    expect(check.stdout).toContain(`ok    wal: newest WAL ${SEGMENT} archived 10m ago`);
    expect(check.stdout).toMatch(/^ok {4}config: newest backup /m);
  });

  it('a WAL file archived 20 minutes ago fails the check with exit 2, posts the webhook and writes the metrics', async () => {
    await archivedAgo(20);
    listener = await startHttpListener();
    const metrics = join(dir, 'nexus.prom');
    const check = await runCli([
      ...['check', '--from', repo, '--max-age', '26h', '--max-wal-age', '15m'],
      ...['--notify', `${listener.url}/hooks/wal`, '--prometheus', metrics],
    ]);
    expect(check.code).toBe(2);
    const problem = `wal: WAL archiving stalled: newest WAL ${SEGMENT} archived 20m ago (max 15m)`;
    expect(check.stdout).toContain(`FAIL  ${problem}`);
    expect(listener.requests).toHaveLength(1);
    expect(JSON.parse(listener.requests[0]?.body ?? '').text).toContain(`- ${problem}`);
    const text = await readFile(metrics, 'utf8');
    expect(text).toContain(`nexus_backup_wal_check_ok{pipeline="wal",repository="${repo}"} 0`);
    expect(text).toMatch(
      /^nexus_backup_wal_last_archived_timestamp_seconds\{pipeline="wal",repository="[^"]+"\} \d+/m,
    );
    // The backup pipeline itself is fresh: only the WAL problem counts.
    expect(text).toContain(`nexus_backup_check_ok{pipeline="config",repository="${repo}"} 1`);
  });

  it('a WAL age in months is refused as a usage error naming the units (m is minutes here)', async () => {
    const check = await runCli(['check', '--from', repo, '--max-age', '26h', '--max-wal-age', '1mo']);
    expect(check.code).toBe(64);
    expect(check.stderr).toContain('invalid duration "1mo": unknown unit "mo"');
    expect(check.stderr).toContain('m or min (minutes)');
  });

  it('without --max-wal-age, check judges backups only, as before', async () => {
    await archivedAgo(60 * 24 * 30);
    const check = await runCli(['check', '--from', repo, '--max-age', '26h']);
    expect(check.code).toBe(0);
    expect(check.stdout).not.toContain('wal');
  });
});
