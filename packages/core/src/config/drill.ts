import { expectList, expectMap, expectString } from './expect.js';
import type { KeyPath } from './key-path.js';
import type { DrillConfig } from './types.js';

/** `drill: { checks: ["select count(*) > 0 from api_requests"], schedule: "0 4 1 * *", db: URL }` */
export function validateDrill(value: unknown, path: KeyPath): DrillConfig {
  const entries = expectMap(value, path, ['checks', 'schedule', 'db']);
  const drill: DrillConfig = {
    checks: expectList(entries.checks, [...path, 'checks']).map((check, index) =>
      expectString(check, [...path, 'checks', index], '"select count(*) > 0 from orders"'),
    ),
  };
  if (entries.schedule !== undefined && entries.schedule !== null) {
    drill.schedule = expectString(entries.schedule, [...path, 'schedule'], '"0 4 1 * *"');
  }
  if (entries.db !== undefined && entries.db !== null) {
    drill.db = expectString(entries.db, [...path, 'db'], 'postgresql://user@host:5432/postgres');
  }
  return drill;
}
