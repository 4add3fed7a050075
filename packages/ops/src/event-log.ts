export type EventFields = Record<string, unknown>;

/**
 * Where the scheduler reports: one call per event (`run-started`, `run-finished`, `check`, ...), with
 * machine-readable fields and a readable line. The CLI prints them as JSON lines or log lines.
 */
export type EventLog = (event: string, fields: EventFields, text: string, level?: 'info' | 'warning') => void;
