/**
 * Reuses part buffers across parts and puts, so a long upload allocates its (queueSize + 1) buffers
 * once instead of a fresh one per part: memory stays flat rather than waiting on the garbage collector.
 */
export interface PartBuffers {
  /** A buffer of exactly `size` bytes, reused when one is free. */
  take(size: number): Buffer;
  /** Hands a buffer back once nothing references it any more (its request has settled). */
  give(buffer: Buffer): void;
}

export function createPartBuffers(maxIdle: number): PartBuffers {
  const idle: Buffer[] = [];
  return {
    take(size) {
      const index = idle.findIndex((buffer) => buffer.length === size);
      if (index === -1) return Buffer.allocUnsafe(size);
      return idle.splice(index, 1)[0]!;
    },
    give(buffer) {
      if (buffer.length === 0) return;
      if (idle.length >= maxIdle) idle.shift();
      idle.push(buffer);
    },
  };
}
