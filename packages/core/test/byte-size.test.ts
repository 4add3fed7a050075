import { parseByteSize } from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';

describe('sizes with units', () => {
  it.each([
    ['2048', 2048],
    ['10MB', 10_000_000],
    ['10 mb', 10_000_000],
    ['1.5KiB', 1536],
    ['2GiB', 2 * 1024 ** 3],
    ['1TB', 1e12],
    ['0', 0],
  ])('%s is %d bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['10XB', '-5', 'MB', '1e6', '', '10 M'])(
    '%s is refused as a usage error naming the forms',
    (text) => {
      expect(() => parseByteSize(text)).toThrow(
        /invalid size .*; use bytes \(1048576\) or a number and a unit/,
      );
    },
  );
});
