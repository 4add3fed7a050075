// Summarises V8 CPU profiles (`node --cpu-prof`) of the CLI by self time: where the main thread's time
// goes (waiting, compression callbacks, hashing, encryption, the COPY protocol, SQL parsing, GC), the
// busiest modules and functions. Library for the bench, and a command of its own:
//   node bench/profile.mjs <file.cpuprofile> [more.cpuprofile ...] [--top 15]
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { printTable } from './report.mjs';

/**
 * Checked from a sample's own frame up to the root: the first frame that belongs to one of these is
 * what the sample was doing (a zlib write called from the COPY stream's handler is compression).
 */
const SPECIFIC = [
  [
    'key derivation (scrypt, once per run)',
    (f) => /internal\/crypto\/scrypt/.test(f.url) || f.functionName === 'scrypt',
  ],
  ['hashing (SHA-256)', (f) => /internal\/crypto\/hash/.test(f.url)],
  [
    'encryption (aes)',
    (f) => /internal\/crypto\/(cipher|aes)|\/packages\/aes\/|@nexus-backup\/aes/.test(f.url),
  ],
  [
    'compression callbacks (zstd, gzip)',
    (f) => /(^|[/:])zlib$|internal\/zlib|\/packages\/(zstd|gzip)\/|@nexus-backup\/(zstd|gzip)/.test(f.url),
  ],
  [
    'COPY protocol (pg, pg-copy-streams)',
    (f) => /node_modules\/(pg|pg-protocol|pg-copy-streams)\//.test(f.url),
  ],
  [
    'SQL script splitting (restore)',
    (f) => /postgres\/(dist|src)\/restore\/(sql-|copy-data-scanner|statement-text)/.test(f.url),
  ],
  ['dump writing (postgres source)', (f) => /postgres\/(dist|src)\/dump\//.test(f.url)],
];
/** Checked only when no frame of the stack is one of the above. */
const GENERIC = [
  ['loading modules (CLI start)', (f) => /^node:internal\/modules\//.test(f.url)],
  ['stream plumbing (node:stream)', (f) => /internal\/streams\/|^node:stream$/.test(f.url)],
  [
    'file and socket I/O (node:fs, node:net)',
    (f) => /internal\/fs\/|^node:fs|^node:net$|internal\/stream_base_commons|internal\/net/.test(f.url),
  ],
  ['nexus core and CLI', (f) => /\/packages\/core\/|@nexus-backup\/core|\/apps\/cli\//.test(f.url)],
  ['other nexus packages', (f) => /\/packages\/|@nexus-backup\//.test(f.url)],
];
/** V8's own entries (a Map: a plain object would find `toString` and friends on its prototype). */
const SPECIAL = new Map([
  ['(idle)', 'idle: waiting for the server, I/O or the thread pool'],
  ['(garbage collector)', 'garbage collection (main thread)'],
  ['(program)', 'V8 and native code outside JS functions'],
  ['(root)', 'V8 and native code outside JS functions'],
]);

/**
 * @param {object} profile a parsed .cpuprofile ({ nodes, samples, timeDeltas, startTime, endTime })
 * @returns {{ wallMs: number, idleMs: number, busyMs: number, categories: [string, number][],
 *   modules: [string, number][], functions: [string, number][] }} milliseconds, largest first
 */
export function summariseProfile(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const categoryOf = memo((id) => categorise(id, byId, parent));

  // A sample lasts until the next one (how DevTools counts it); the last one gets the mean.
  const { samples, timeDeltas } = profile;
  const meanUs = (profile.endTime - profile.startTime) / Math.max(samples.length, 1);
  const selfUs = new Map();
  for (let i = 0; i < samples.length; i++) {
    const us = i + 1 < timeDeltas.length ? Math.max(timeDeltas[i + 1], 0) : meanUs;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + us);
  }

  const categories = new Map();
  const modules = new Map();
  const functions = new Map();
  let idleUs = 0;
  let totalUs = 0;
  for (const [id, us] of selfUs) {
    const frame = byId.get(id).callFrame;
    totalUs += us;
    if (frame.functionName === '(idle)') idleUs += us;
    add(categories, categoryOf(id), us);
    add(modules, moduleOf(frame), us);
    add(functions, functionOf(frame), us);
  }
  const sorted = (map) => [...map].map(([key, us]) => [key, us / 1000]).sort((a, b) => b[1] - a[1]);
  return {
    wallMs: totalUs / 1000,
    idleMs: idleUs / 1000,
    busyMs: (totalUs - idleUs) / 1000,
    categories: sorted(categories),
    modules: sorted(modules),
    functions: sorted(functions),
  };
}

/** Prints the three tables of one summary (categories in full, modules and functions: the top ones). */
export function printProfile(title, summary, { top = 12 } = {}) {
  const share = (ms) => `${((ms / summary.wallMs) * 100).toFixed(1)}%`;
  const ms = (value) => `${(value / 1000).toFixed(2)} s`;
  const rows = (entries) => entries.map(([name, value]) => [name, ms(value), share(value)]);
  printTable(
    `${title}: main thread ${ms(summary.wallMs)} sampled, busy ${ms(summary.busyMs)} (${share(summary.busyMs)}), self time by what it was doing`,
    ['what', 'self', 'share'],
    rows(summary.categories),
  );
  printTable(
    `${title}: top modules by self time`,
    ['module', 'self', 'share'],
    rows(summary.modules.slice(0, top)),
  );
  printTable(
    `${title}: top functions by self time`,
    ['function', 'self', 'share'],
    rows(summary.functions.slice(0, top)),
  );
}

function categorise(id, byId, parent) {
  const leaf = byId.get(id).callFrame;
  if (SPECIAL.has(leaf.functionName)) return SPECIAL.get(leaf.functionName);
  const stack = [];
  for (let at = id; at !== undefined; at = parent.get(at)) stack.push(byId.get(at).callFrame);
  for (const frame of stack) for (const [name, test] of SPECIFIC) if (test(frame)) return name;
  for (const frame of stack) for (const [name, test] of GENERIC) if (test(frame)) return name;
  return leaf.url === '' ? 'other native code' : 'other JavaScript';
}

/** `node:internal/streams/readable` -> node:internal/streams; a file in node_modules -> its package. */
function moduleOf({ url, functionName }) {
  if (url === '') return SPECIAL.has(functionName) ? functionName : '(native)';
  if (url.startsWith('node:')) return url.split('/').slice(0, 2).join('/');
  const inModules = url.lastIndexOf('node_modules/');
  if (inModules >= 0) {
    const [scope, name] = url.slice(inModules + 'node_modules/'.length).split('/');
    return scope.startsWith('@') ? `${scope}/${name}` : scope;
  }
  const workspace = url.match(/\/(packages|apps)\/([^/]+)\//);
  return workspace ? `${workspace[1]}/${workspace[2]}` : url;
}

function functionOf({ functionName, url, lineNumber }) {
  if (url === '') return functionName || '(anonymous native)';
  const file = url.replace(/^file:\/\//, '').replace(/^.*\/(node_modules|packages|apps)\//, '$1/');
  return `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`;
}

function add(map, key, value) {
  map.set(key, (map.get(key) ?? 0) + value);
}

function memo(fn) {
  const cache = new Map();
  return (key) => {
    if (!cache.has(key)) cache.set(key, fn(key));
    return cache.get(key);
  };
}

// As a command: summarise the files named on the command line.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const topAt = args.indexOf('--top');
  const top = topAt >= 0 ? Number(args.splice(topAt, 2)[1]) : 12;
  if (args.length === 0) {
    console.error('usage: node bench/profile.mjs <file.cpuprofile> [...] [--top N]');
    process.exit(64);
  }
  for (const file of args)
    printProfile(file, summariseProfile(JSON.parse(await readFile(file, 'utf8'))), { top });
}
