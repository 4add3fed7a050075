import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import {
  concurrencyFor,
  MAX_PART_BYTES,
  MAX_PARTS,
  MIN_PART_BYTES,
  MiB,
  maxObjectBytes,
  partBytes,
} from '../src/part-plan.js';
import { readParts } from '../src/part-reader.js';

const TiB = 1024 * 1024 * MiB;

describe('part plan', () => {
  it('reaches the 5 TiB object limit within 10,000 parts from the default 8 MiB start', () => {
    const plan = { startBytes: 8 * MiB, grow: true, queueSize: 4 };
    expect(maxObjectBytes(plan)).toBeGreaterThanOrEqual(5 * TiB);
    for (const part of [1, 1000, 1001, 5000, MAX_PARTS]) {
      expect(partBytes(plan, part)).toBeGreaterThanOrEqual(MIN_PART_BYTES);
      expect(partBytes(plan, part)).toBeLessThanOrEqual(MAX_PART_BYTES);
    }
  });

  it('keeps the start size for the first 1,000 parts, then doubles', () => {
    const plan = { startBytes: 8 * MiB, grow: true, queueSize: 4 };
    expect(partBytes(plan, 1)).toBe(8 * MiB);
    expect(partBytes(plan, 1000)).toBe(8 * MiB);
    expect(partBytes(plan, 1001)).toBe(16 * MiB);
    expect(partBytes(plan, 2001)).toBe(32 * MiB);
  });

  it('with growth off keeps every part equal (R2) and caps the object at partSize x 10,000', () => {
    const plan = { startBytes: 8 * MiB, grow: false, queueSize: 4 };
    expect(partBytes(plan, 9999)).toBe(8 * MiB);
    expect(maxObjectBytes(plan)).toBe(8 * MiB * MAX_PARTS);
  });

  it('shrinks concurrency as parts grow so memory stays near startBytes x queueSize', () => {
    const plan = { startBytes: 8 * MiB, grow: true, queueSize: 4 };
    expect(concurrencyFor(plan, 8 * MiB)).toBe(4);
    expect(concurrencyFor(plan, 16 * MiB)).toBe(2);
    expect(concurrencyFor(plan, 32 * MiB)).toBe(1);
    expect(concurrencyFor(plan, 4096 * MiB)).toBe(1);
  });
});

describe('part reader', () => {
  async function sizes(chunks: Buffer[], sizeOf: (part: number) => number) {
    const parts = [];
    for await (const part of readParts(Readable.from(chunks), sizeOf)) {
      parts.push({ n: part.partNumber, bytes: part.data.length, last: part.last });
    }
    return parts;
  }

  it('yields one empty last part for an empty stream', async () => {
    expect(await sizes([], () => 10)).toEqual([{ n: 1, bytes: 0, last: true }]);
  });

  it('cuts exact sizes across chunk boundaries and marks only the final part last', async () => {
    const chunks = [Buffer.alloc(7), Buffer.alloc(7), Buffer.alloc(7)];
    expect(await sizes(chunks, () => 10)).toEqual([
      { n: 1, bytes: 10, last: false },
      { n: 2, bytes: 10, last: false },
      { n: 3, bytes: 1, last: true },
    ]);
  });

  it('does not emit an empty trailing part when the stream ends on a part boundary', async () => {
    expect(await sizes([Buffer.alloc(20)], () => 10)).toEqual([
      { n: 1, bytes: 10, last: false },
      { n: 2, bytes: 10, last: true },
    ]);
  });

  it('follows a growing size per part number, keeping the bytes in order', async () => {
    const data = Buffer.from(Array.from({ length: 70 }, (_, index) => index));
    const seen: Buffer[] = [];
    const layout = [];
    for await (const part of readParts(
      Readable.from([data.subarray(0, 33), data.subarray(33)]),
      (n) => 10 * 2 ** (n - 1),
    )) {
      seen.push(part.data);
      layout.push(part.data.length);
    }
    expect(layout).toEqual([10, 20, 40]);
    expect(Buffer.concat(seen).equals(data)).toBe(true);
  });
});
