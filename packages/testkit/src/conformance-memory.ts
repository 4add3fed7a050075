import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type CollectGarbage = (options?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async' }) => void;

let collectGarbage: CollectGarbage | undefined;

/**
 * A full garbage collection, so a memory sample counts what is still referenced rather than garbage
 * not yet collected. Works without `--expose-gc` by enabling the flag at run time for a fresh context.
 */
function fullGc(): void {
  if (!collectGarbage) {
    setFlagsFromString('--expose-gc');
    collectGarbage = runInNewContext('gc') as CollectGarbage;
  }
  collectGarbage({ type: 'major', execution: 'sync' });
}

/** Bytes held live by this process in the JS heap and in buffers, after a full collection. */
export function retainedBytes(): number {
  fullGc();
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.external;
}

/**
 * Tracks the largest growth of retained memory over a baseline taken at creation. Call `sample()` at
 * points where a streaming implementation should hold little (e.g. every few MiB of a large stream).
 */
export interface MemoryProbe {
  sample(): void;
  /** Largest growth over the baseline seen by any sample, in bytes. */
  peakGrowth(): number;
}

export function createMemoryProbe(): MemoryProbe {
  const baseline = retainedBytes();
  let peak = 0;
  return {
    sample() {
      peak = Math.max(peak, retainedBytes() - baseline);
    },
    peakGrowth: () => peak,
  };
}

/** Calls `probe.sample()` each time `bytes` crosses another multiple of `every`. */
export function sampleEvery(probe: MemoryProbe, every: number): (bytes: number) => void {
  let next = every;
  return (bytes) => {
    if (bytes >= next) {
      next = (Math.floor(bytes / every) + 1) * every;
      probe.sample();
    }
  };
}
