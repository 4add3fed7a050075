import type { EventLog } from '@nexus-backup/ops';
import type { Runtime } from './runtime.js';

/** One line per event: a JSON object on stdout with `--json`, else a readable line on stderr. */
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
