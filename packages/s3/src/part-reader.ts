import type { Readable } from 'node:stream';

export interface Part {
  partNumber: number;
  data: Buffer;
  /** True for the final part; the first part being last means the whole body fits one PutObject. */
  last: boolean;
}

/**
 * Cuts a stream into parts of `sizeOf(partNumber)` bytes (the last one shorter), holding at most one
 * part plus one chunk. A full part is only handed out once the next byte arrives, so the reader always
 * knows whether a part is the last one (an empty body yields one empty last part).
 */
export async function* readParts(
  body: Readable,
  sizeOf: (partNumber: number) => number,
): AsyncGenerator<Part> {
  let partNumber = 1;
  let chunks: Buffer[] = [];
  let buffered = 0;
  let full: Buffer | undefined;
  for await (const chunk of body) {
    const whole = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    if (whole.length === 0) continue;
    let data = whole;
    if (full) {
      yield { partNumber, data: full, last: false };
      partNumber += 1;
      full = undefined;
    }
    while (buffered + data.length >= sizeOf(partNumber)) {
      const size = sizeOf(partNumber);
      const take = size - buffered;
      chunks.push(data.subarray(0, take));
      data = data.subarray(take);
      const part = Buffer.concat(chunks, size); // a copy: the part pins no caller buffer
      chunks = [];
      buffered = 0;
      if (data.length === 0) {
        full = part;
        break;
      }
      yield { partNumber, data: part, last: false };
      partNumber += 1;
    }
    if (data.length > 0) {
      // A leftover slice of a big chunk is copied, so it does not keep the whole chunk alive.
      chunks.push(data === whole ? data : Buffer.from(data));
      buffered += data.length;
    }
  }
  if (full) {
    yield { partNumber, data: full, last: true };
    return;
  }
  yield { partNumber, data: Buffer.concat(chunks, buffered), last: true };
}
