import type { Runtime } from '../runtime.js';

export type EventFields = Record<string, unknown>;

/** One line per event: a JSON object on stdout with `--json`, else a readable line on stderr. */
export type EventLog = (event: string, fields: EventFields, text: string, level?: 'info' | 'warning') => void;

export function createEventLog(runtime: Runtime, json: boolean): EventLog {
  return (event, fields, text, level = 'info') => {
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ time: new Date().toISOString(), level, event, ...fields })}\n`,
      );
    } else if (level === 'warning') {
      runtime.log.warn(text);
    } else {
      runtime.log.info(text);
    }
  };
}
