/** S3's multipart limits (AWS; S3-compatible stores share them). */
export const MiB = 1024 * 1024;
export const MIN_PART_BYTES = 5 * MiB;
export const MAX_PART_BYTES = 5 * 1024 * MiB;
export const MAX_PARTS = 10_000;
/** Parts per size step: the size doubles after every 1,000 parts. */
export const PARTS_PER_STEP = 1000;

/**
 * How big each part is and how many go up at once. The length of a backup stream is unknown up front,
 * so a fixed part size either wastes memory on small backups or caps large ones (5 MiB x 10,000 =
 * 48.8 GiB). Doubling every 1,000 parts keeps small backups at the start size and still reaches
 * 5 TiB within 10,000 parts (from 8 MiB: 7.8 GiB at start size, then 16 MiB parts, ...).
 * Concurrency shrinks as parts grow, so memory stays near startBytes x queueSize until a single
 * part is larger than that.
 */
export interface PartPlan {
  startBytes: number;
  grow: boolean;
  queueSize: number;
  /** Parts per size step; PARTS_PER_STEP except in tests that watch parts grow on a small stream. */
  partsPerStep?: number;
}

export function partBytes(plan: PartPlan, partNumber: number): number {
  if (!plan.grow) return plan.startBytes;
  const step = Math.floor((partNumber - 1) / (plan.partsPerStep ?? PARTS_PER_STEP));
  return Math.min(MAX_PART_BYTES, plan.startBytes * 2 ** step);
}

/** Parts of this size allowed in flight at once. */
export function concurrencyFor(plan: PartPlan, bytes: number): number {
  return Math.max(1, Math.min(plan.queueSize, Math.floor((plan.queueSize * plan.startBytes) / bytes)));
}

/** The largest object the plan can store in MAX_PARTS parts, for error messages and docs. */
export function maxObjectBytes(plan: PartPlan): number {
  let total = 0;
  for (let part = 1; part <= MAX_PARTS; part += 1) total += partBytes(plan, part);
  return total;
}
