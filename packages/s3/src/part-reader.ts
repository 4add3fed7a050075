import type { Readable } from 'node:stream';

export interface Part {
  partNumber: number;
  /** The part's bytes: a view of `buffer`. */
  data: Buffer;
  /** The whole buffer the bytes were copied into, to hand back to the pool when the part is done. */
  buffer: Buffer;
  /** True for the final part; the first part being last means the whole body fits one PutObject. */
  last: boolean;
}

/**
 * Cuts a stream into parts of `sizeOf(partNumber)` bytes (the last one shorter), copying each chunk
 * straight into a part buffer from `take`, so it holds one part and no chunks. A full part is only
 * handed out once the next byte arrives, so the reader always knows whether a part is the last one
 * (an empty body yields one empty last part).
 */
export async function* readParts(
  body: Readable,
  sizeOf: (partNumber: number) => number,
  take: (size: number) => Buffer = (size) => Buffer.allocUnsafe(size),
): AsyncGenerator<Part> {
  let partNumber = 1;
  let current: Buffer | undefined;
  let filled = 0;
  let full: Buffer | undefined;
  for await (const chunk of body) {
    const data = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    let offset = 0;
    while (offset < data.length) {
      if (full) {
        yield { partNumber, data: full, buffer: full, last: false };
        partNumber += 1;
        full = undefined;
      }
      current ??= take(sizeOf(partNumber));
      const copied = data.copy(current, filled, offset);
      filled += copied;
      offset += copied;
      if (filled === current.length) {
        full = current;
        current = undefined;
        filled = 0;
      }
    }
  }
  if (full) {
    yield { partNumber, data: full, buffer: full, last: true };
    return;
  }
  const buffer = current ?? Buffer.alloc(0);
  yield { partNumber, data: buffer.subarray(0, filled), buffer, last: true };
}
