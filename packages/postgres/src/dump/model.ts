/**
 * The dump is a graph of objects, each one SQL text with the catalog rows it stands for; edges come
 * from pg_depend, and the writer emits the objects in topological order within their sections.
 */
export type Section = 'pre-data' | 'data' | 'post-data';

export type ObjectKind =
  | 'schema'
  | 'extension'
  | 'type'
  | 'function'
  | 'aggregate'
  | 'sequence'
  | 'table'
  | 'view'
  | 'matview'
  | 'default'
  | 'table-data'
  | 'sequence-set'
  | 'constraint'
  | 'index'
  | 'index-attach'
  | 'cluster-on'
  | 'replica-identity'
  | 'foreign-key'
  | 'trigger'
  | 'rule'
  | 'row-security'
  | 'policy'
  // Schema-level kinds beyond tables and routines (pg_dump's order among them).
  | 'language'
  | 'collation'
  | 'shell-type'
  | 'cast'
  | 'transform'
  | 'access-method'
  | 'operator'
  | 'operator-family'
  | 'operator-class'
  | 'conversion'
  | 'text-search-parser'
  | 'text-search-template'
  | 'text-search-dictionary'
  | 'text-search-configuration'
  | 'foreign-data-wrapper'
  | 'foreign-server'
  | 'user-mapping'
  | 'statistics'
  | 'event-trigger'
  // Data and privilege kinds.
  | 'large-object'
  | 'publication'
  | 'publication-member'
  | 'subscription'
  | 'default-acl'
  | 'system-privileges'
  | 'database-settings';

/** Emission order among objects that are ready at the same time (pg_dump's order, roughly). */
export const KIND_RANK: Record<ObjectKind, number> = {
  schema: 0,
  extension: 1,
  type: 2,
  function: 3,
  aggregate: 4,
  sequence: 5,
  table: 6,
  view: 7,
  matview: 8,
  default: 9,
  'table-data': 10,
  'sequence-set': 11,
  constraint: 12,
  index: 13,
  'index-attach': 14,
  'cluster-on': 14.5,
  'replica-identity': 14.6,
  rule: 15,
  trigger: 16,
  'foreign-key': 17,
  'row-security': 18,
  policy: 19,
  language: 0.3,
  collation: 0.5,
  'shell-type': 1.5,
  cast: 3.5,
  transform: 3.6,
  'access-method': 4.1,
  operator: 4.2,
  'operator-family': 4.3,
  'operator-class': 4.4,
  conversion: 4.5,
  'text-search-parser': 4.6,
  'text-search-template': 4.7,
  'text-search-dictionary': 4.8,
  'text-search-configuration': 4.9,
  'foreign-data-wrapper': 5.1,
  'foreign-server': 5.2,
  'user-mapping': 5.3,
  statistics: 13.5,
  // Ranks only order kinds of one section: large objects after the table data, the rest at the very end.
  'large-object': 20,
  publication: 21,
  'publication-member': 22,
  subscription: 23,
  'default-acl': 24,
  'system-privileges': 24.5,
  'database-settings': 25,
  // Last (after publications, subscriptions and default privileges too), so no event trigger fires on
  // the restore's own DDL (the REFRESHes after it still may).
  'event-trigger': 26,
};

export const SECTION_RANK: Record<Section, number> = { 'pre-data': 0, data: 1, 'post-data': 2 };

export interface TableCopy {
  /** Schema-qualified, quoted. */
  table: string;
  /** Quoted column names, generated columns left out (COPY cannot load them). */
  columns: string[];
  /**
   * Set for extension configuration tables only: the filter their extension registered (`WHERE ...`,
   * or empty for every row). A row selection (subset) leaves these tables alone.
   */
  where?: string;
}

export interface DumpObject {
  /** Unique within one dump, e.g. `pg_class:16390` or `data:16390`. */
  key: string;
  kind: ObjectKind;
  section: Section;
  /** Schema-qualified display name; also the tie-break of the order. */
  name: string;
  /** Complete statements, each ending in `;\n`. Empty for table data (streamed by COPY). */
  sql: string;
  /** Catalog identities (`pg_class:16390`, `pg_rewrite:16400`) whose pg_depend rows belong to this object. */
  identities: string[];
  /** The relation oid this object belongs to (tables, their indexes, constraints, triggers, data). */
  relation?: number;
  /** Keys of objects that must come first, besides pg_depend's. */
  after: string[];
  copy?: TableCopy;
  /** Relations: relkind, to tell tables (with data) from views. */
  relkind?: string;
  /** Relations: unquoted schema and name, matched by the table include/exclude patterns. */
  schema?: string;
  relname?: string;
  /** Foreign keys: whether SET CONSTRAINTS ... DEFERRED can postpone their check. */
  deferrable?: boolean;
  /** Partitions: the oid of the partitioned table they belong to. */
  partitionOf?: number;
  /** Large objects: the oid whose content the writer streams after `sql`. */
  largeObject?: number;
  /**
   * Statements that go after the owner and grants appended to `sql`: a sequence's OWNED BY, which
   * PostgreSQL refuses while the sequence's owner is not yet its table's.
   */
  sqlAfterOwner?: string;
  /**
   * Views: what breaks a dependency loop of views (see catalog/view-stubs.ts). `definition` is the
   * CREATE VIEW that `sql` starts with; `stub` takes its place, and `replace` follows the loop.
   */
  loopStub?: { definition: string; stub: string; replace: string };
  /** Matviews that were populated at dump time get a REFRESH at the very end. */
  refresh?: string;
  /**
   * Base types: the key of their shell type. The objects in `after` (the I/O functions) need the type
   * as much as it needs them, so they wait for the shell instead, as pg_dump breaks that loop.
   */
  shell?: string;
}

export function identity(catalog: string, oid: number | string): string {
  return `${catalog}:${oid}`;
}

export function dumpObject(
  fields: Omit<DumpObject, 'identities' | 'after'> & Partial<Pick<DumpObject, 'identities' | 'after'>>,
): DumpObject {
  return { identities: [], after: [], ...fields };
}
