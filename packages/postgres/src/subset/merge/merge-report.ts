import type { Json, RestoreReport } from '@nexus-backup/core';
import type { DestinationTable } from './destination-catalog.js';

export interface TableOutcome {
  table: DestinationTable;
  /** Rows the selection brought for this table. */
  selected: number;
  /** Rows inserted (dry run: that would be). */
  copied: number;
  /** Rows whose primary key the destination already had; null when the table has no primary key (dry run). */
  present: number | null;
  /** Dry run: the first row as the destination would store it, as JSON. */
  sample?: string;
}

const SAMPLE_CHARS = 400;

/** The report both a copy and its dry run print: one line per table, then sequences moved. */
export function mergeReport(input: {
  url: string;
  dryRun: boolean;
  outcomes: TableOutcome[];
  sequences: { sequence: string; value: string }[];
  durationMs: number;
}): RestoreReport {
  const { url, dryRun, outcomes, sequences, durationMs } = input;
  const sum = (pick: (outcome: TableOutcome) => number) =>
    outcomes.reduce((total, outcome) => total + pick(outcome), 0);
  const selected = sum((outcome) => outcome.selected);
  const copied = sum((outcome) => outcome.copied);
  const present = sum((outcome) => outcome.present ?? 0);
  const lines = [
    dryRun
      ? `dry run, nothing written to ${url}: ${selected} rows selected, ${copied} would be copied, ${present} already present`
      : `copied into ${url} in one transaction: ${selected} rows selected, ${copied} copied, ${present} already present (${(durationMs / 1000).toFixed(1)} s)`,
  ];
  const width = Math.max(5, ...outcomes.map((outcome) => outcome.table.qname.length));
  lines.push(
    `  ${'table'.padEnd(width)}  selected  ${dryRun ? 'would copy' : '    copied'}  already present`,
  );
  for (const outcome of outcomes) {
    lines.push(
      `  ${outcome.table.qname.padEnd(width)}  ${String(outcome.selected).padStart(8)}  ${String(outcome.copied).padStart(10)}  ${String(outcome.present ?? '?').padStart(15)}`,
    );
    if (outcome.sample !== undefined) {
      const sample =
        outcome.sample.length > SAMPLE_CHARS ? `${outcome.sample.slice(0, SAMPLE_CHARS)}...` : outcome.sample;
      lines.push(`    sample: ${sample}`);
    }
  }
  for (const { sequence, value } of sequences) lines.push(`  sequence ${sequence} moved to ${value}`);
  const tables: { [name: string]: Json } = {};
  for (const outcome of outcomes) {
    tables[outcome.table.qname] = {
      selected: outcome.selected,
      copied: outcome.copied,
      present: outcome.present,
      ...(outcome.sample !== undefined ? { sample: outcome.sample } : {}),
    };
  }
  return {
    lines,
    details: { toDb: url, dryRun, selected, copied, present, tables, sequences, durationMs },
  };
}
