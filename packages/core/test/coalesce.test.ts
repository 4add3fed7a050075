import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { CoalescingStream } from '../src/coalesce.js';

async function chunksThrough(input: Buffer[], chunkBytes: number): Promise<Buffer[]> {
  // A Writable sees each pushed chunk as it is (an async iterator would join what is buffered).
  const output: Buffer[] = [];
  const collect = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      output.push(chunk);
      callback();
    },
  });
  await pipeline(Readable.from(input), new CoalescingStream(chunkBytes), collect);
  return output;
}

describe('CoalescingStream', () => {
  it('joins small chunks into chunks of at least the size, the last one smaller, bytes unchanged', async () => {
    const input = Array.from({ length: 10 }, (_, index) => Buffer.alloc(300, index));
    const output = await chunksThrough(input, 1000);
    expect(output.map((chunk) => chunk.length)).toEqual([1200, 1200, 600]);
    expect(Buffer.concat(output).equals(Buffer.concat(input))).toBe(true);
  });

  it('passes a chunk that is already large enough through as it is, without a copy', async () => {
    const large = Buffer.alloc(5000, 7);
    const output = await chunksThrough([large, Buffer.from('tail')], 1000);
    expect(output[0]).toBe(large);
    expect(output.map((chunk) => chunk.length)).toEqual([5000, 4]);
  });

  it('ends with nothing for an empty input', async () => {
    expect(await chunksThrough([], 1000)).toEqual([]);
  });
});
