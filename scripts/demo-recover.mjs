// The demo behind scripts/demo-recover.sh: the sample service's recovery plan
// (examples/sample-service/nexus-backup.example.yaml, copied to nexus-backup.yaml) run for real against an embedded PostgreSQL, with a
// stand-in process for the docker compose proxy. Backup, disaster, recover, check, undo, forget.
import { spawnSync } from 'node:child_process';
import { cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startPostgres } from '@nexus-backup/testkit/postgres';
import { tableChecksums } from '@nexus-backup/testkit/postgres-compare';

const root = resolve(import.meta.dirname, '..');
const cli = join(root, 'apps/cli/bin/nexus-backup.js');
const work = await mkdtemp(join(tmpdir(), 'nexus-demo-recover-'));
const service = join(work, 'service');
await cp(join(root, 'examples/sample-service'), service, { recursive: true, preserveTimestamps: true });
await rename(join(service, 'nexus-backup.example.yaml'), join(service, 'nexus-backup.yaml'));
const port = await freePort();
const standIn = join(root, 'scripts/demo-service.mjs');
let failures = 0;

console.log('Starting an embedded PostgreSQL with the sample service database...');
const server = await startPostgres();
const env = {
  ...process.env,
  NEXUS_BACKUP_PASSPHRASE: 'demo passphrase - use your own',
  BACKUP_DIR: join(work, 'backups'),
  SERVICE_PORT: String(port),
  // Stand-ins for `docker compose stop/up/ps`: the plan is the sample service's own.
  SERVICE_START: `nohup node ${standIn} > service.log 2>&1 & for i in $(seq 100); do [ -f service.pid ] && exit 0; sleep 0.05; done; exit 1`,
  SERVICE_STOP: '[ -f service.pid ] && kill $(cat service.pid); rm -f service.pid; true',
  SERVICE_STATUS: 'kill -0 $(cat service.pid)',
  SERVICE_HEALTH_URL: `http://127.0.0.1:${port}/health`,
};
try {
  env.DATABASE_URL = await server.admin.createDatabase('proxy');
  await server.admin.exec('proxy', await readFile(join(service, 'schema.sql'), 'utf8'));
  await server.admin.exec('proxy', await readFile(join(service, 'seed.sql'), 'utf8'));
  await server.admin.exec('proxy', 'SELECT seed_sample_service(500)');
  const original = await databaseChecksum();
  const credential = await readFile(join(service, 'credentials/anthropic.credentials.json'));

  run(['run']);
  shell(env.SERVICE_START);

  console.log('\nDisaster: the requests table is emptied, a credential is overwritten, .env is deleted.');
  await server.admin.exec('proxy', 'TRUNCATE api_requests CASCADE');
  await writeFile(join(service, 'credentials/anthropic.credentials.json'), 'garbage');
  await rm(join(service, '.env'));
  const damaged = await databaseChecksum();

  run(['recover', '--dry-run']);
  run(['recover']);
  check('database back as backed up (COPY checksums)', (await databaseChecksum()) === original);
  check(
    'credential back',
    (await readFile(join(service, 'credentials/anthropic.credentials.json'))).equals(credential),
  );
  check('.env back', (await readFile(join(service, '.env'), 'utf8')).length > 0);
  check('service healthy', (await fetch(env.SERVICE_HEALTH_URL)).status === 200);

  run(['recover', '--undo']);
  check('undo: the state before the recovery is back', (await databaseChecksum()) === damaged);
  run(['recover']);
  check('recovered again', (await databaseChecksum()) === original);
  run(['recover', '--forget-old']);
  run(['recover', '--forget-old', '--yes']);
} finally {
  shell(env.SERVICE_STOP);
  await server.stop();
}
console.log(
  failures === 0 ? `\nAll matched. The service folder is ${service}` : `\n${failures} problem(s); see above.`,
);
process.exitCode = failures === 0 ? 0 : 1;

function run(args) {
  console.log(`\n$ nexus-backup ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: service, env, stdio: 'inherit' });
  if (result.status !== 0 && !(args.includes('--undo') && result.status === 2)) {
    console.log(`  -> exit code ${result.status}`);
    failures += 1;
  }
}

function shell(command) {
  spawnSync('sh', ['-c', command], { cwd: service, env, stdio: 'inherit' });
}

function check(label, ok) {
  console.log(`${ok ? 'MATCH   ' : 'MISMATCH'} ${label}`);
  if (!ok) failures += 1;
}

/** A checksum of every table's COPY output: equal checksums, equal data. */
async function databaseChecksum() {
  return JSON.stringify(await tableChecksums(env.DATABASE_URL));
}

async function freePort() {
  const probe = createServer();
  await new Promise((done) => probe.listen(0, '127.0.0.1', done));
  const { port: free } = probe.address();
  await new Promise((done) => probe.close(done));
  return free;
}
