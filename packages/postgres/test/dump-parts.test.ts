import { describe, expect, it } from 'vitest';
import { type DumpObject, dumpObject, type ObjectKind, type Section } from '../src/dump/model.js';
import { dataArtifactName, GROUP_BYTES, OWN_ARTIFACT_BYTES, splitDump } from '../src/dump/parts.js';

const MiB = 1024 * 1024;

function object(kind: ObjectKind, section: Section, name: string, after: string[] = []): DumpObject {
  return dumpObject({ key: `${kind}:${name}`, kind, section, name, sql: `-- ${name}\n`, after });
}

/** A table and its data object, the data `bytes` large. */
function table(name: string, bytes: number, sizes: Map<string, number>): [DumpObject, DumpObject] {
  const created = object('table', 'pre-data', name);
  const data = object('table-data', 'data', name, [created.key]);
  sizes.set(data.key, bytes);
  return [created, data];
}

describe('splitting a dump into per-table artifacts', () => {
  it('gives a table of 8 MiB or more its own artifact, packs smaller ones up to 64 MiB, largest first, large objects last', () => {
    const sizes = new Map<string, number>();
    const [bigT, big] = table('public.big', OWN_ARTIFACT_BYTES, sizes);
    const [hugeT, huge] = table('public.huge', 100 * MiB, sizes);
    const small = Array.from({ length: 12 }, (_, index) =>
      table(`public.small_${String(index).padStart(2, '0')}`, 7 * MiB, sizes),
    );
    const lo = object('large-object', 'data', 'large object 0000016500');
    const index = object('index', 'post-data', 'public.big_idx', [bigT.key]);
    const parts = splitDump(
      [
        bigT,
        hugeT,
        ...small.map(([created]) => created),
        big,
        huge,
        ...small.map(([, data]) => data),
        lo,
        index,
      ],
      (candidate) => sizes.get(candidate.key) ?? 0,
      { keepDataOrder: false },
    );
    expect(parts.preData.map((candidate) => candidate.name)).toEqual([
      'public.big',
      'public.huge',
      ...small.map(([created]) => created.name),
    ]);
    expect(parts.data.map((part) => part.objects.map((candidate) => candidate.name))).toEqual([
      ['public.huge'],
      // 12 x 7 MiB: nine fit in 64 MiB, three in the next group.
      small.slice(0, 9).map(([created]) => created.name),
      small.slice(9).map(([created]) => created.name),
      ['public.big'],
      ['large object 0000016500'],
    ]);
    const groups = parts.data.filter((part) => part.objects.length > 1 && !part.largeObjects);
    expect(groups.every((part) => part.estimatedBytes <= GROUP_BYTES)).toBe(true);
    expect(parts.data.at(-1)?.largeObjects).toBe(true);
    expect(parts.postData).toEqual([index]);
    expect(dataArtifactName(0)).toBe('data-0001.sql');
  });

  it('keeps the planned table order of a data-only dump across and within its artifacts', () => {
    const sizes = new Map<string, number>();
    const [aT, a] = table('public.a_referenced', 1 * MiB, sizes);
    const [bT, b] = table('public.b_big', 20 * MiB, sizes);
    const [cT, c] = table('public.c_referencing', 2 * MiB, sizes);
    const parts = splitDump([aT, bT, cT, a, b, c], (candidate) => sizes.get(candidate.key) ?? 0, {
      keepDataOrder: true,
    });
    expect(parts.data.map((part) => part.objects.map((candidate) => candidate.name))).toEqual([
      ['public.a_referenced'],
      ['public.b_big'],
      ['public.c_referencing'],
    ]);
  });

  it('leaves the data of a table created after a post-data object in place, in post-data after its table', () => {
    const sizes = new Map<string, number>();
    const [parentT, parent] = table('public.parent', 1 * MiB, sizes);
    const key = object('constraint', 'post-data', 'public.parent.parent_pkey', [parentT.key]);
    // A table the dependency order puts after that key: its rows cannot load before post-data starts.
    const late = object('table', 'pre-data', 'public.late', [key.key]);
    const lateData = object('table-data', 'data', 'public.late', [late.key]);
    const trigger = object('trigger', 'post-data', 'public.late.audit', [late.key]);
    const parts = splitDump(
      [parentT, parent, key, late, lateData, trigger],
      (candidate) => sizes.get(candidate.key) ?? 0,
      { keepDataOrder: false },
    );
    expect(parts.preData).toEqual([parentT]);
    expect(parts.data.map((part) => part.objects)).toEqual([[parent]]);
    expect(parts.postData).toEqual([key, late, lateData, trigger]);
  });
});
