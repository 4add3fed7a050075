// Plain-text tables for the bench output: right-aligned numbers, a header rule, nothing fancy.

export const MB = 1e6;

export const seconds = (value) =>
  value === undefined ? 'n/a' : `${value < 1 ? value.toFixed(2) : value.toFixed(1)} s`;
export const mbps = (bytes, wall) => `${(bytes / MB / wall).toFixed(1)} MB/s`;
export const mib = (value) => (value === undefined ? 'n/a' : `${value.toFixed(0)} MiB`);
export const megabytes = (bytes) => `${(bytes / MB).toFixed(0)} MB`;
export const ratio = (ours, theirs) =>
  ours === undefined || theirs === undefined || theirs === 0 ? 'n/a' : `${(ours / theirs).toFixed(2)}x`;
export const percent = (value) => `${(value * 100).toFixed(1)}%`;

/** Prints a table whose first column is left-aligned and the others right-aligned. */
export function printTable(title, header, rows) {
  const widths = header.map((cell, column) =>
    Math.max(cell.length, ...rows.map((row) => String(row[column]).length)),
  );
  const line = (cells) =>
    cells
      .map((cell, column) =>
        column === 0 ? String(cell).padEnd(widths[column]) : String(cell).padStart(widths[column]),
      )
      .join('  ');
  console.log(`\n${title}`);
  console.log(line(header));
  console.log(widths.map((width) => '-'.repeat(width)).join('  '));
  for (const row of rows) console.log(line(row));
}

/**
 * The columns of one "ours vs theirs" comparison on `bytes` of data. With `server`, the database
 * server's CPU time during each run is shown too, and the CPU ratio is of client plus server.
 */
export function comparisonRow(label, bytes, ours, theirs, { server = false } = {}) {
  const total = (run) => (run.cpu === undefined ? undefined : run.cpu + (server ? run.serverCpu : 0));
  const side = (run) => [
    seconds(run.wall),
    mbps(bytes, run.wall),
    seconds(run.cpu),
    ...(server ? [seconds(run.serverCpu)] : []),
    mib(run.rssMiB),
  ];
  return [
    label,
    ...side(ours),
    ...side(theirs),
    ratio(ours.wall, theirs.wall),
    ratio(total(ours), total(theirs)),
    ratio(ours.rssMiB, theirs.rssMiB),
  ];
}

export function comparisonHeader({ server = false } = {}) {
  const side = (who) => [
    `${who} wall`,
    `${who} rate`,
    `${who} CPU`,
    ...(server ? [`${who} srv CPU`] : []),
    `${who} RSS`,
  ];
  return ['', ...side('ours'), ...side('theirs'), 'wall o/t', 'CPU o/t', 'RSS o/t'];
}
