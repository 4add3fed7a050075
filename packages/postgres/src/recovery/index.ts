import { NexusError, type RecoverySupport } from '@nexus-backup/core';
import { liveUrl } from './live-target.js';

/** The swap code (and pg) load only when `recover` runs, so `--help` stays light. */
const load = () => import('./swap-database.js');

/** `recover` for a database: restored beside as `<db>_recovery_<stamp>`, swapped in by two renames in one transaction. */
export const databaseRecovery: RecoverySupport = {
  describeLive(target) {
    try {
      const url = new URL(liveUrl(target));
      return `database ${decodeURIComponent(url.pathname.slice(1))} on ${url.host}`;
    } catch (error) {
      if (error instanceof NexusError) throw error;
      return 'database (unparsable URL)';
    }
  },
  async plan(target, stamp) {
    const swap = (await load()).planSwap(target, stamp);
    return {
      besideTarget: { db: target.db, createDb: swap.staged, singleTransaction: true },
      swap: { ...swap },
    };
  },
  async state(_ctx, target, swap) {
    const impl = await load();
    return impl.swapState(target, impl.asSwap(swap));
  },
  async swapIn(_ctx, target, swap) {
    const impl = await load();
    await impl.swapIn(target, impl.asSwap(swap));
  },
  async swapBack(_ctx, target, swap) {
    const impl = await load();
    await impl.swapBack(target, impl.asSwap(swap));
  },
  async discard(_ctx, target, swap) {
    const impl = await load();
    await impl.discard(target, impl.asSwap(swap));
  },
  async forget(_ctx, target, swap, dryRun) {
    const impl = await load();
    return impl.forget(target, impl.asSwap(swap), dryRun);
  },
  async query(_ctx, target, sql) {
    return (await load()).queryLive(target, sql);
  },
};
