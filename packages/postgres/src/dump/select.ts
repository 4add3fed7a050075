import type { DumpObject, ObjectKind } from './model.js';

export interface Selection {
  /** `schema.table` or `table` patterns with `*` and `?` wildcards; empty means every table. */
  tables?: string[];
  excludeTables?: string[];
  schemaOnly?: boolean;
  dataOnly?: boolean;
}

const RELATION_KINDS: ReadonlySet<ObjectKind> = new Set(['table', 'view', 'matview', 'sequence']);

function isRelation(object: DumpObject): boolean {
  return RELATION_KINDS.has(object.kind);
}

/** Indexes, constraints, triggers, defaults, data...: objects that exist only with their relation. */
function isAttached(object: DumpObject): boolean {
  return object.relation !== undefined && !isRelation(object);
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** `app.orders` matches schema and name; `orders` (no dot) matches the name in any schema. */
export function relationMatcher(
  patterns: string[],
): (relation: { schema?: string; relname?: string }) => boolean {
  const compiled = patterns.map((pattern) => {
    const dot = pattern.indexOf('.');
    return dot === -1
      ? { schema: undefined, name: patternToRegExp(pattern) }
      : { schema: patternToRegExp(pattern.slice(0, dot)), name: patternToRegExp(pattern.slice(dot + 1)) };
  });
  return (object) =>
    compiled.some(
      (pattern) =>
        pattern.name.test(object.relname ?? '') &&
        (pattern.schema === undefined || pattern.schema.test(object.schema ?? '')),
    );
}

/** A partitioned table brings its partitions (that is where its rows are), recursively. */
function withPartitions(objects: DumpObject[], chosen: Set<DumpObject>): Set<DumpObject> {
  const partitionsOf = new Map<number, DumpObject[]>();
  for (const object of objects) {
    if (object.kind !== 'table' || object.partitionOf === undefined) continue;
    const list = partitionsOf.get(object.partitionOf);
    if (list) list.push(object);
    else partitionsOf.set(object.partitionOf, [object]);
  }
  const result = new Set(chosen);
  const queue = [...chosen];
  while (queue.length > 0) {
    const parent = queue.pop() as DumpObject;
    if (parent.kind !== 'table' || parent.relation === undefined) continue;
    for (const partition of partitionsOf.get(parent.relation) ?? []) {
      if (result.has(partition)) continue;
      result.add(partition);
      queue.push(partition);
    }
  }
  return result;
}

/**
 * Applies the table filters, closed under dependencies so the result restores on its own:
 * - `tables`: the matching relations with their attached objects and data, plus the schemas, types,
 *   functions and sequences they need; a relation needed only by such an object (a view's base table)
 *   comes without data; an attached object needing an unselected relation (a foreign key to it) is left out.
 * - `excludeTables`: the matching relations go, with everything attached to them or depending on them.
 * Then `schemaOnly` drops data; `dataOnly` keeps every object for ordering but blanks its SQL.
 */
export function selectObjects(
  objects: DumpObject[],
  edges: Map<string, Set<string>>,
  selection: Selection,
  warn: (message: string) => void,
): DumpObject[] {
  const byKey = new Map(objects.map((object) => [object.key, object]));
  const needs = (object: DumpObject) =>
    [...(edges.get(object.key) ?? [])].flatMap((key) => byKey.get(key) ?? []);
  const relationOf = new Map<number, DumpObject>();
  for (const object of objects)
    if (isRelation(object) && object.relation !== undefined) relationOf.set(object.relation, object);
  const attachedTo = new Map<DumpObject, DumpObject[]>();
  for (const object of objects) {
    if (!isAttached(object)) continue;
    const relation = relationOf.get(object.relation as number);
    if (!relation) continue;
    const list = attachedTo.get(relation);
    if (list) list.push(object);
    else attachedTo.set(relation, [object]);
  }

  let kept = new Set(objects);
  if (selection.tables && selection.tables.length > 0) {
    const matches = relationMatcher(selection.tables);
    const roots = withPartitions(
      objects,
      new Set(objects.filter((object) => isRelation(object) && matches(object))),
    );
    if (roots.size === 0) warn(`no table matches --tables ${selection.tables.join(',')}`);
    kept = new Set();
    const queue = [...roots];
    while (queue.length > 0) {
      const object = queue.pop() as DumpObject;
      if (kept.has(object)) continue;
      kept.add(object);
      const attached = isAttached(object);
      for (const needed of needs(object)) {
        // An attached object may bring a sequence (a serial default) but never another table.
        const foreign = isRelation(needed) && needed.kind !== 'sequence' && !roots.has(needed);
        if (kept.has(needed) || (attached && foreign)) continue;
        if (foreign) warn(`${needed.name} is included without data: ${object.name} needs it`);
        queue.push(needed);
      }
      for (const child of attachedTo.get(object) ?? []) {
        if (child.kind === 'table-data' && !roots.has(object)) continue;
        queue.push(child);
      }
    }
    kept = dropUnsatisfied(kept, needs, warn);
  }
  if (selection.excludeTables && selection.excludeTables.length > 0) {
    const matches = relationMatcher(selection.excludeTables);
    const excluded = withPartitions(
      objects,
      new Set(objects.filter((object) => isRelation(object) && matches(object))),
    );
    for (const object of excluded) {
      kept.delete(object);
      for (const child of attachedTo.get(object) ?? []) kept.delete(child);
    }
    kept = dropUnsatisfied(kept, needs, warn);
  }

  let result = objects.filter((object) => kept.has(object));
  if (selection.schemaOnly) {
    result = result
      .filter((object) => object.section !== 'data')
      .map((object) => (object.refresh === undefined ? object : { ...object, refresh: undefined }));
  }
  if (selection.dataOnly) {
    // A blanked view needs no stand-in to break a loop either (see order.ts).
    const blank = { definition: '', stub: '', replace: '' };
    result = result.map((object) =>
      object.section === 'data'
        ? object
        : { ...object, sql: '', ...(object.loopStub ? { loopStub: blank } : {}) },
    );
  }
  return result;
}

/** Removes, to a fixed point, every object that needs an object no longer kept. */
function dropUnsatisfied(
  kept: Set<DumpObject>,
  needs: (object: DumpObject) => DumpObject[],
  warn: (message: string) => void,
): Set<DumpObject> {
  const result = new Set(kept);
  let changed = true;
  while (changed) {
    changed = false;
    for (const object of result) {
      const missing = needs(object).find((needed) => !result.has(needed));
      if (!missing) continue;
      result.delete(object);
      changed = true;
      if (object.kind !== 'table-data' && object.kind !== 'sequence-set') {
        warn(
          `${object.kind} ${object.name} is left out: it needs ${missing.kind} ${missing.name}, which is not dumped`,
        );
      }
    }
  }
  return result;
}
