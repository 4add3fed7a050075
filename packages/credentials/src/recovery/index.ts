import type { RecoverySupport } from '@nexus-backup/core';
import { asSwap, discard, forget, liveDir, planSwap, swapBack, swapIn, swapState } from './path-swap.js';

/** `recover` support for a source restored with `toDir`; see path-swap.ts for the two modes. */
export function folderRecovery(mode: 'folder' | 'entries'): RecoverySupport {
  return {
    describeLive: (target) => `folder ${liveDir(target)}`,
    async plan(target, stamp) {
      const swap = planSwap(target, stamp, mode);
      return { besideTarget: { toDir: swap.staged }, swap: { ...swap } };
    },
    state: async (_ctx, _target, swap) => swapState(asSwap(swap)),
    swapIn: async (_ctx, _target, swap) => swapIn(asSwap(swap)),
    swapBack: async (_ctx, _target, swap) => swapBack(asSwap(swap)),
    async discard(_ctx, _target, swap) {
      await discard(asSwap(swap));
    },
    forget: async (_ctx, _target, swap, dryRun) => forget(asSwap(swap), dryRun),
  };
}
