import type { Json } from './contracts.js';

/** What a source needs to drill one backup; the scratch place itself is the source's own choice. */
export interface DrillOptions {
  pipeline: string;
  backupId: string;
  /** A database server URL to create the scratch database on (postgres); file sources ignore it. */
  db?: string;
  /** The pipeline's `drill.checks`: for postgres, SQL queries that must each return true. */
  checks: string[];
}

/** One comparison of a drill: a table's rows, a kind's object count, a configured check, a file. */
export interface DrillCheck {
  /** What was compared, e.g. `rows public.orders`, `objects index`, `check select count(*) > 0 from t`. */
  name: string;
  ok: boolean;
  expected?: Json;
  actual?: Json;
  /** When not ok: what differed, in one line. */
  problem?: string;
}

/** What a source found after restoring a backup into its scratch place (already removed again). */
export interface DrillReport {
  checks: DrillCheck[];
  /** What could not be checked and why, e.g. object counts a backup of an older version never recorded. */
  notes: string[];
  /** Wall time of the restore alone: the recovery time a runbook quotes. */
  restoreMs: number;
  /** Short facts for the summary line, e.g. `12 tables, 34567 rows`. */
  facts: string[];
}
