import type { NexusConfig, NotifyConfig } from '@nexus-backup/core';

/** What runs report to, besides the caller: the config's `notify:` targets and `history: { db }`. */
export interface RunHooks {
  notifiers: NotifyConfig[];
  /** PostgreSQL URL of the history table; absent means runs are not recorded. */
  historyDb?: string;
}

/** A config's hooks; none without a config. */
export function hooksFromConfig(config: NexusConfig | undefined): RunHooks {
  return {
    notifiers: config?.notify ?? [],
    ...(config?.history?.db ? { historyDb: config.history.db } : {}),
  };
}
