import { type DumpObject, dumpObject, KIND_RANK, SECTION_RANK } from './model.js';

function compare(a: DumpObject, b: DumpObject): number {
  return (
    SECTION_RANK[a.section] - SECTION_RANK[b.section] ||
    KIND_RANK[a.kind] - KIND_RANK[b.kind] ||
    (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  );
}

/** A binary min-heap: thousands of objects, each pushed and popped once. */
class Heap {
  private readonly items: DumpObject[] = [];
  get size(): number {
    return this.items.length;
  }
  push(item: DumpObject): void {
    const items = this.items;
    items.push(item);
    let index = items.length - 1;
    while (index > 0) {
      const parent = (index - 1) >> 1;
      if (compare(items[parent] as DumpObject, item) <= 0) break;
      items[index] = items[parent] as DumpObject;
      index = parent;
    }
    items[index] = item;
  }
  pop(): DumpObject | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    let index = 0;
    for (;;) {
      const left = index * 2 + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child =
        right < items.length && compare(items[right] as DumpObject, items[left] as DumpObject) < 0
          ? right
          : left;
      if (compare(items[child] as DumpObject, last) >= 0) break;
      items[index] = items[child] as DumpObject;
      index = child;
    }
    items[index] = last;
    return top;
  }
}

/**
 * Topological order (Kahn) that prefers earlier sections, then pg_dump's kind order, then names, so
 * the output is deterministic and every object follows what it needs. An object that needs a later
 * section's object (a view grouping by a primary key) simply moves after it. A true cycle is broken at
 * its first object in that preference order and reported.
 */
export function orderObjects(
  objects: DumpObject[],
  edges: Map<string, Set<string>>,
  warn: (message: string) => void,
): DumpObject[] {
  const byKey = new Map(objects.map((object) => [object.key, object]));
  const waitingOn = new Map<string, number>();
  const dependents = new Map<string, string[]>();
  for (const object of objects) {
    let count = 0;
    for (const needed of edges.get(object.key) ?? []) {
      if (!byKey.has(needed)) continue;
      count++;
      const list = dependents.get(needed);
      if (list) list.push(object.key);
      else dependents.set(needed, [object.key]);
    }
    waitingOn.set(object.key, count);
  }
  const ready = new Heap();
  for (const object of objects) if (waitingOn.get(object.key) === 0) ready.push(object);
  const ordered: DumpObject[] = [];
  const done = new Set<string>();
  let total = objects.length;
  while (ordered.length < total) {
    let next = ready.pop();
    if (!next) {
      const waiting = objects.filter((object) => !done.has(object.key)).sort(compare);
      // A loop through a view breaks there: a stand-in now, the real view once the rest exists.
      const view = waiting.find((object) => object.loopStub !== undefined);
      if (view?.loopStub) {
        const { definition, stub, replace } = view.loopStub;
        const replacement = dumpObject({ ...view, key: `${view.key}:replace`, sql: replace, identities: [] });
        delete replacement.loopStub;
        const needs = [...(edges.get(view.key) ?? [])].filter((key) => byKey.has(key) && !done.has(key));
        byKey.set(replacement.key, replacement);
        waitingOn.set(replacement.key, needs.length);
        for (const needed of needs)
          dependents.set(needed, [...(dependents.get(needed) ?? []), replacement.key]);
        if (needs.length === 0) ready.push(replacement);
        total++;
        next = { ...view, sql: stub + view.sql.slice(definition.length) };
        delete next.loopStub;
      } else {
        next = waiting[0] as DumpObject;
        warn(`dependency loop around ${next.kind} ${next.name}; it is emitted before some of what it needs`);
      }
    }
    if (done.has(next.key)) continue;
    done.add(next.key);
    ordered.push(next);
    for (const dependent of dependents.get(next.key) ?? []) {
      const left = (waitingOn.get(dependent) ?? 0) - 1;
      waitingOn.set(dependent, left);
      const object = byKey.get(dependent);
      if (left === 0 && object && !done.has(dependent)) ready.push(object);
    }
  }
  return ordered;
}
