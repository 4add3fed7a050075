// The demo behind scripts/demo.sh: everything real, nothing mocked. An embedded PostgreSQL with the
// sample service's schema, the sample service folder, the real `nexus-backup` binary.
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres } from '@nexus-backup/testkit/postgres';
import { describeDatabase, tableChecksums } from '@nexus-backup/testkit/postgres-compare';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'apps/cli/bin/nexus-backup.js');
const requests = Number(process.env.DEMO_REQUESTS ?? 2000);
const work = await mkdtemp(join(tmpdir(), 'nexus-demo-'));
const service = join(work, 'service');
const repo = join(work, 'backups');
await cp(join(root, 'examples/sample-service'), service, { recursive: true, preserveTimestamps: true });

// A demo passphrase; real runs take it from NEXUS_BACKUP_PASSPHRASE, --passphrase-file or a prompt.
const env = { ...process.env, NEXUS_BACKUP_PASSPHRASE: 'demo passphrase - use your own' };
let failures = 0;

function run(args, options = {}) {
  console.log(`\n$ nexus-backup ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], {
    cwd: service,
    env: { ...env, ...options.env },
    stdio: 'inherit',
  });
  if (result.status !== 0) {
    console.log(`  -> exit code ${result.status}`);
    failures += 1;
  }
}

function check(label, ok) {
  console.log(`${ok ? 'MATCH   ' : 'MISMATCH'} ${label}`);
  if (!ok) failures += 1;
}

console.log(
  `Starting an embedded PostgreSQL and loading the sample service database (${requests} requests)...`,
);
const server = await startPostgres();
try {
  const source = await server.admin.createDatabase('proxy');
  await server.admin.exec('proxy', await readFile(join(service, 'schema.sql'), 'utf8'));
  await server.admin.exec('proxy', await readFile(join(service, 'seed.sql'), 'utf8'));
  await server.admin.exec('proxy', `SELECT seed_sample_service(${requests})`);
  // The URL carries the server's password, so it goes through DATABASE_URL, never argv.
  const db = { env: { DATABASE_URL: source } };

  run(['backup', 'postgres', '--encrypt', '--to', repo, '--pipeline', 'db'], db);
  run(['backup', 'credentials', '--dir', 'credentials', '--encrypt', '--to', repo]);
  run(['backup', 'files', '.env', 'docker-compose.yml', 'docker', '--to', repo, '--pipeline', 'config']);
  run(['list', '--from', repo]);
  run(['verify', '--from', repo]);
  run(['restore', 'db@latest', '--from', repo, '--create-db', 'proxy_restored'], db);
  // The service profile: the last day's conversations, with their chunks, analyses and audit rows.
  run(
    ['copy', 'postgres', '--profile', 'claude-nexus', '--create-db', 'proxy_recent', '--since', '1 day'],
    db,
  );
  run(['restore', 'config@latest', '--from', repo, '--to-dir', join(work, 'restored-config')]);
  run(['restore', 'credentials@latest', '--from', repo, '--to-dir', join(work, 'restored-credentials')]);

  console.log('\nComparing the restored copies with the originals:');
  const restored = server.url('proxy_restored');
  check(
    'database schema (catalog description)',
    (await describeDatabase(source)) === (await describeDatabase(restored)),
  );
  const [before, after] = [await tableChecksums(source), await tableChecksums(restored)];
  for (const table of Object.keys(before))
    check(`table ${table} (COPY checksum)`, before[table] === after[table]);
  for (const file of ['.env', 'docker-compose.yml', 'docker/Dockerfile']) {
    const same = (await readFile(join(service, file))).equals(
      await readFile(join(work, 'restored-config', file)),
    );
    check(`file ${file}`, same);
  }
  for (const file of ['anthropic.credentials.json', 'google-oauth.credentials.json']) {
    const same = (await readFile(join(service, 'credentials', file))).equals(
      await readFile(join(work, 'restored-credentials', file)),
    );
    check(`credential ${file}`, same);
  }
} finally {
  await server.stop();
}
console.log(
  failures === 0 ? `\nAll matched. Backups are in ${repo}` : `\n${failures} problem(s); see above.`,
);
process.exitCode = failures === 0 ? 0 : 1;
