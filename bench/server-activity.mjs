// The server's side of a run, sampled from pg_stat_activity every 100 ms: how many connection-seconds
// went to COPY (and how much of that the backend spent waiting for the client), index builds, key and
// foreign-key builds, and everything else; and when each phase ran. The sample server belongs to the
// bench alone, so every other client backend is the run being measured.
import { createRequire } from 'node:module';
import { setTimeout as sleep } from 'node:timers/promises';
import { printTable } from './report.mjs';

const pg = createRequire(import.meta.resolve('@nexus-backup/testkit/postgres'))('pg');
const INTERVAL_MS = 100;
const QUERY = `SELECT state, wait_event_type, wait_event, left(query, 300) AS query
  FROM pg_stat_activity
 WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND state <> 'idle'`;

/** Starts sampling; `stop()` ends it and returns the summary. */
export async function sampleServerActivity(url) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = Date.now();
  const phases = new Map();
  let samples = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = (Date.now() - started) / 1000;
      const { rows } = await client.query(QUERY);
      samples++;
      for (const row of rows) {
        const phase = phaseOf(row);
        const entry = phases.get(phase) ?? { samples: 0, onCpu: 0, waits: new Map(), first: at, last: at };
        entry.samples++;
        entry.last = at;
        if (row.wait_event === null) entry.onCpu++;
        else {
          const wait = `${row.wait_event_type}:${row.wait_event}`;
          entry.waits.set(wait, (entry.waits.get(wait) ?? 0) + 1);
        }
        phases.set(phase, entry);
      }
      await sleep(INTERVAL_MS);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await client.end();
      const seconds = (Date.now() - started) / 1000;
      // Each sample stands for the time between samples (the interval plus the query's own time).
      const perSample = seconds / Math.max(samples, 1);
      return {
        seconds,
        phases: [...phases]
          .map(([name, entry]) => ({
            name,
            connectionSeconds: entry.samples * perSample,
            onCpuShare: entry.onCpu / entry.samples,
            topWait: [...entry.waits].sort((a, b) => b[1] - a[1])[0]?.[0] ?? '',
            first: entry.first,
            last: entry.last,
          }))
          .sort((a, b) => b.connectionSeconds - a.connectionSeconds),
      };
    },
  };
}

export function printServerActivity(title, summary) {
  printTable(
    `${title}: server backends sampled every ${INTERVAL_MS} ms over ${summary.seconds.toFixed(1)} s ` +
      '(conn-s: connection-seconds in that phase; on CPU: samples with no wait event)',
    ['phase', 'conn-s', 'on CPU', 'most seen wait', 'from', 'to'],
    summary.phases.map((phase) => [
      phase.name,
      `${phase.connectionSeconds.toFixed(1)} s`,
      `${(phase.onCpuShare * 100).toFixed(0)}%`,
      phase.topWait || '-',
      `${phase.first.toFixed(1)} s`,
      `${phase.last.toFixed(1)} s`,
    ]),
  );
}

/** The phase a backend is in, from its statement (leading comments and SET lines skipped). */
function phaseOf({ state, wait_event: wait, query }) {
  const sql = query
    .replace(/^(\s*(--[^\n]*\n|SET\s[^;]*;|SELECT pg_catalog\.set_config\([^;]*;))*/i, '')
    .trim()
    .toUpperCase();
  if (state.startsWith('idle in transaction')) return 'idle in transaction (waiting for the client)';
  if (/^COPY\b.*\bFROM\s+STDIN/s.test(sql)) {
    return wait === 'ClientRead' ? 'COPY FROM stdin, waiting for client data' : 'COPY FROM stdin, loading';
  }
  if (/^COPY\b.*\bTO\s+STDOUT/s.test(sql)) {
    return wait === 'ClientWrite'
      ? 'COPY TO stdout, waiting for the client to read'
      : 'COPY TO stdout, reading';
  }
  if (/^CREATE\s+(UNIQUE\s+)?INDEX/.test(sql)) return 'CREATE INDEX';
  if (/^ALTER\s+TABLE\b.*\bFOREIGN\s+KEY/s.test(sql)) return 'foreign key (ALTER TABLE ADD ... FOREIGN KEY)';
  if (/^ALTER\s+TABLE\b.*\b(PRIMARY\s+KEY|UNIQUE)/s.test(sql)) return 'primary/unique key (ALTER TABLE ADD)';
  // The verb, and the object's kind after CREATE/ALTER/DROP/REFRESH (CREATE DATABASE, ALTER TABLE ...).
  const word = sql.match(/^(CREATE|ALTER|DROP|REFRESH)\s+[A-Z]+|^[A-Z]+/)?.[0];
  return `other: ${word ?? '(empty)'}`;
}

/**
 * One row of a per-pipeline comparison: connection-seconds by kind of work, and when the table data
 * and the builds ran (seconds from the run's start).
 */
export function phaseTotals(summary) {
  const sum = (test) =>
    summary.phases
      .filter((phase) => test(phase.name))
      .reduce((total, phase) => total + phase.connectionSeconds, 0);
  const span = (test) => {
    const phases = summary.phases.filter((phase) => test(phase.name));
    if (phases.length === 0) return undefined;
    return [Math.min(...phases.map((p) => p.first)), Math.max(...phases.map((p) => p.last))];
  };
  const isCopy = (name) => name.startsWith('COPY');
  const isBuild = (name) => /INDEX|key \(ALTER/.test(name);
  return {
    copyBusy: sum((name) => isCopy(name) && !name.includes('waiting')),
    copyWaiting: sum((name) => isCopy(name) && name.includes('waiting')),
    indexes: sum((name) => name === 'CREATE INDEX' || name.startsWith('primary/unique')),
    foreignKeys: sum((name) => name.startsWith('foreign key')),
    idleInTransaction: sum((name) => name.startsWith('idle in transaction')),
    other: sum((name) => name.startsWith('other')),
    copySpan: span(isCopy),
    buildSpan: span(isBuild),
  };
}
