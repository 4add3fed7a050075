import { describe, expect, it } from 'vitest';
import { lsnSegment, parseWalFileName, segmentName, segmentNumber } from '../src/wal-names.js';

const MiB16 = 16 * 1024 * 1024;

describe('WAL file names', () => {
  it('tells segments, partial segments, backup labels and history files apart, and refuses anything else', () => {
    expect(parseWalFileName('0000000200000001000000FF')).toMatchObject({
      kind: 'segment',
      timeline: 2,
      segment: { log: 1, seg: 255 },
    });
    expect(parseWalFileName('000000010000000000000003.partial')?.kind).toBe('partial');
    expect(parseWalFileName('000000010000000000000003.00000028.backup')?.kind).toBe('backup');
    expect(parseWalFileName('0000000A.history')).toEqual({
      name: '0000000A.history',
      kind: 'history',
      timeline: 10,
    });
    for (const bad of ['00000001000000000000003', 'RECOVERYXLOG', '../000000010000000000000003', 'x.history'])
      expect(parseWalFileName(bad)).toBeUndefined();
  });

  it('orders segments across logs and maps an LSN to the segment holding it', () => {
    const last = parseWalFileName('0000000100000000000000FF')?.segment as { log: number; seg: number };
    const next = parseWalFileName('000000010000000100000000')?.segment as { log: number; seg: number };
    expect(segmentNumber(next, MiB16) - segmentNumber(last, MiB16)).toBe(1);
    expect(segmentName(1, lsnSegment('1/2000028', MiB16), MiB16)).toBe('000000010000000100000002');
    expect(segmentName(3, lsnSegment('0/FFFFFFF', 64 * 1024 * 1024), 64 * 1024 * 1024)).toBe(
      '000000030000000000000003',
    );
  });
});
