import { redactSecrets, redactValue } from '@nexus-backup/core';

/*
 * stdout is for results (tables, JSON); everything else goes to stderr through the logger. Both pass
 * through core's one redactor, so a password that reached a value (a target URL from DATABASE_URL, a
 * provider's report) is printed as `***`.
 */

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(redactValue(value), null, 2)}\n`);
}

export function printTable(headers: string[], rows: string[][]): void {
  const safeRows = rows.map((row) => row.map((cell) => redactSecrets(cell)));
  const widths = headers.map((header, column) =>
    Math.max(header.length, ...safeRows.map((row) => (row[column] ?? '').length)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) => cell.padEnd(widths[column] ?? 0))
      .join('  ')
      .trimEnd();
  process.stdout.write(`${[line(headers), ...safeRows.map(line)].join('\n')}\n`);
}

export function printLines(lines: string[]): void {
  if (lines.length > 0) process.stdout.write(`${lines.map((line) => redactSecrets(line)).join('\n')}\n`);
}
