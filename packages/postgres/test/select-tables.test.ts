import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import { isNexusError, type RestoreArtifact } from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';
import { qualifiedNamesIn } from '../src/restore/relation-names.js';
import { selectTables } from '../src/restore/select-tables.js';

const HEADER = "SET client_encoding = 'UTF8';\nSELECT pg_catalog.set_config('search_path', '', false);\n\n";

function object(kind: string, name: string, table: string | undefined, sql: string): string {
  const marker = JSON.stringify({ kind, name, ...(table ? { table } : {}) });
  return `-- nexus-object: ${marker}\n-- ${kind.toUpperCase()}: ${name}\n${sql}\n\n`;
}

const PRE_DATA =
  HEADER +
  object('schema', 'audit', undefined, 'CREATE SCHEMA audit;') +
  object(
    'function',
    'public.touch()',
    undefined,
    'CREATE FUNCTION public.touch() RETURNS trigger LANGUAGE plpgsql AS $$\n-- nexus-object: {"kind":"table","name":"public.fake"}\nBEGIN PERFORM 1 FROM public.parents; RETURN NEW; END $$;',
  ) +
  object('table', 'public.parents', 'public.parents', 'CREATE TABLE public.parents (id integer NOT NULL);') +
  object(
    'table',
    'public.children',
    'public.children',
    'CREATE TABLE public.children (id integer NOT NULL, parent integer);',
  ) +
  object('table', 'audit.children', 'audit.children', 'CREATE TABLE audit.children (id integer);') +
  object(
    'view',
    'public.parent_names',
    undefined,
    'CREATE VIEW public.parent_names AS\n SELECT p.id FROM public.parents p;',
  ) +
  object(
    'view',
    'public.child_ids',
    undefined,
    'CREATE VIEW public.child_ids AS\n SELECT c.id FROM public.children c;',
  );

const DATA_1 =
  HEADER +
  '-- DATA: public.parents\nCOPY public.parents (id) FROM stdin;\n1\n2\n\\.\n\n' +
  '-- DATA: audit.children\nCOPY audit.children (id) FROM stdin;\n7\n\\.\n\n';
const DATA_2 = `${HEADER}-- DATA: public.children\nCOPY public.children (id, parent) FROM stdin;\n10\t1\n\\.\n\n`;

const POST_DATA =
  HEADER +
  object(
    'sequence-set',
    'public.children_id_seq',
    'public.children',
    "SELECT pg_catalog.setval('public.children_id_seq', 10, true);",
  ) +
  object(
    'constraint',
    'public.parents.parents_pkey',
    'public.parents',
    'ALTER TABLE ONLY public.parents\n    ADD CONSTRAINT parents_pkey PRIMARY KEY (id);',
  ) +
  object(
    'foreign-key',
    'public.children.children_parent_fkey',
    'public.children',
    'ALTER TABLE ONLY public.children\n    ADD CONSTRAINT children_parent_fkey FOREIGN KEY (parent) REFERENCES public.parents(id);',
  ) +
  '-- MATERIALIZED VIEW DATA\n' +
  '--\n-- end of dump\n--\n';

/** A per-table backup's artifacts as core yields them, recording which streams were read. */
function artifacts(read: string[], chunkBytes = 0, postData = POST_DATA): AsyncIterator<RestoreArtifact> {
  const list: [string, string, Record<string, unknown>][] = [
    ['pre-data.sql', PRE_DATA, { part: 'pre-data', layout: 'per-table', format: 'plain-sql' }],
    ['data-0001.sql', DATA_1, { part: 'data', tables: ['public.parents', 'audit.children'] }],
    ['data-0002.sql', DATA_2, { part: 'data', tables: ['public.children'] }],
    ['post-data.sql', postData, { part: 'post-data' }],
  ];
  async function* generate(): AsyncGenerator<RestoreArtifact> {
    for (const [name, body, meta] of list) {
      const bytes = Buffer.from(body);
      const size = chunkBytes > 0 ? chunkBytes : bytes.length;
      let offset = 0;
      const stream = new Readable({
        read() {
          if (!read.includes(name)) read.push(name);
          this.push(bytes.subarray(offset, offset + size));
          offset += size;
          if (offset >= bytes.length) this.push(null);
        },
      });
      yield { name, stream, rawBytes: body.length, meta: meta as RestoreArtifact['meta'] };
    }
  }
  return generate();
}

async function select(tables: string[], dataOnly = false, chunkBytes = 0, postData = POST_DATA) {
  const read: string[] = [];
  const selection = await selectTables(artifacts(read, chunkBytes, postData), { tables, dataOnly });
  const script = await text(selection.script);
  return { script, read, selection };
}

describe('selecting tables from a per-table backup', () => {
  it('keeps the table, its objects and the objects of no table; skips unread the data artifacts of other tables', async () => {
    const { script, read, selection } = await select(['parents']);
    expect(selection.tables).toEqual(['public.parents']);
    expect(read).toEqual(['pre-data.sql', 'data-0001.sql', 'post-data.sql']);
    expect(script).toContain('CREATE SCHEMA audit;');
    expect(script).toContain('CREATE FUNCTION public.touch()');
    expect(script).toContain('CREATE TABLE public.parents');
    expect(script).toContain('CREATE VIEW public.parent_names');
    expect(script).toContain('ADD CONSTRAINT parents_pkey');
    expect(script).toContain('COPY public.parents (id) FROM stdin;\n1\n2\n\\.\n');
    for (const absent of [
      'CREATE TABLE public.children',
      'audit.children (id)',
      'child_ids',
      'children_parent_fkey',
      'setval',
    ])
      expect(script).not.toContain(absent);
    expect(selection.warnings).toEqual([
      'left out view public.child_ids: it needs public.children, which is not restored (add --table public.children to keep it)',
    ]);
  });

  it('leaves out a foreign key to a table not selected, naming it, but keeps the table and its sequence value', async () => {
    const { script, selection } = await select(['public.children']);
    expect(script).toContain('CREATE TABLE public.children');
    expect(script).toContain("setval('public.children_id_seq'");
    expect(script).not.toContain('children_parent_fkey');
    expect(script).not.toContain('parent_names');
    expect(selection.warnings).toEqual([
      'left out view public.parent_names: it needs public.parents, which is not restored (add --table public.parents to keep it)',
      'left out foreign key public.children.children_parent_fkey: it needs public.parents, which is not restored (add --table public.parents to keep it)',
    ]);
  });

  it('reads the markers the same whatever the chunk boundaries', async () => {
    const whole = await select(['parents']);
    for (const size of [1, 5, 17, 64]) {
      const chunked = await select(['parents'], false, size);
      expect(chunked.script).toBe(whole.script);
      expect(chunked.selection.warnings).toEqual(whole.selection.warnings);
    }
  });

  it('streams the rows of a selected table that post-data holds (its table waited for a post-data object), and skips the others', async () => {
    const postData = `${POST_DATA.replace('--\n-- end of dump\n--\n', '')}-- DATA: public.parents\nCOPY public.parents (id) FROM stdin;\n3\n\\.\n\n-- DATA: public.children\nCOPY public.children (id, parent) FROM stdin;\n-- nexus-object: {"kind":"table","name":"x"}\t1\n\\.\n\n--\n-- end of dump\n--\n`;
    const { script, selection } = await select(['parents'], false, 0, postData);
    expect(script).toContain('COPY public.parents (id) FROM stdin;\n3\n\\.\n');
    expect(script).not.toContain('COPY public.children');
    expect(selection.warnings).toHaveLength(1);
  });

  it('keeps the foreign key when both tables are selected', async () => {
    const { script, selection } = await select(['parents', 'public.children']);
    expect(script).toContain('children_parent_fkey');
    expect(selection.warnings).toEqual([]);
  });

  it("data only: the header, the rows and the tables' own sequence values, no schema", async () => {
    const { script, selection } = await select(['public.children'], true);
    expect(script).not.toMatch(/CREATE|ALTER/);
    expect(script).toContain('SET CONSTRAINTS ALL DEFERRED;');
    expect(script).toContain('COPY public.children (id, parent) FROM stdin;\n10\t1\n\\.\n');
    expect(script).toContain("setval('public.children_id_seq', 10, true)");
    expect(selection.warnings).toEqual([]);
  });

  it('a name in two schemas is a usage error listing both; an unknown name lists the tables', async () => {
    const failure = async (tables: string[]) => {
      try {
        await select(tables);
      } catch (error) {
        if (isNexusError(error)) return error;
      }
      throw new Error('expected a usage error');
    };
    const ambiguous = await failure(['children']);
    expect(ambiguous.code).toBe('USAGE');
    expect(ambiguous.message).toBe('--table children matches 2 tables: audit.children, public.children');
    const unknown = await failure(['orders']);
    expect(unknown.code).toBe('USAGE');
    expect(unknown.message).toBe(
      '--table orders: the backup has no such table; its tables are: audit.children, public.children, public.parents',
    );
  });

  it('refuses a backup in the single-artifact layout, saying why', async () => {
    async function* single(): AsyncGenerator<RestoreArtifact> {
      yield {
        name: 'database.sql',
        stream: Readable.from([PRE_DATA]),
        rawBytes: 0,
        meta: { format: 'plain-sql' },
      };
    }
    await expect(selectTables(single(), { tables: ['parents'], dataOnly: false })).rejects.toThrow(
      /--table needs a backup with per-table artifacts; this one is a single database\.sql/,
    );
  });
});

describe('routines that name a table', () => {
  const preData =
    HEADER +
    object('table', 'public.orders', 'public.orders', 'CREATE TABLE public.orders (id integer);') +
    object('table', 'public.audit', 'public.audit', 'CREATE TABLE public.audit (id integer);') +
    object(
      'function',
      'public.order_count()',
      undefined,
      'CREATE FUNCTION public.order_count() RETURNS bigint\n    LANGUAGE sql\n    BEGIN ATOMIC\n SELECT count(*) AS count FROM public.orders;\nEND;',
    ) +
    object(
      'function',
      'public.log_it()',
      undefined,
      'CREATE FUNCTION public.log_it() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN INSERT INTO public.orders VALUES (1); RETURN NEW; END$$;',
    );
  const postData =
    HEADER +
    object(
      'trigger',
      'public.audit.counted',
      'public.audit',
      'CREATE TRIGGER counted AFTER INSERT ON public.audit FOR EACH ROW EXECUTE FUNCTION public.order_count();',
    ) +
    object(
      'trigger',
      'public.audit.logged',
      'public.audit',
      'CREATE TRIGGER logged AFTER INSERT ON public.audit FOR EACH ROW EXECUTE FUNCTION public.log_it();',
    );
  async function* backup(): AsyncGenerator<RestoreArtifact> {
    yield {
      name: 'pre-data.sql',
      stream: Readable.from([preData]),
      rawBytes: 0,
      meta: { part: 'pre-data', layout: 'per-table' },
    };
    yield {
      name: 'post-data.sql',
      stream: Readable.from([postData]),
      rawBytes: 0,
      meta: { part: 'post-data' },
    };
  }

  it('leaves out an SQL-standard body over another table and what calls it; a string body stays', async () => {
    const selection = await selectTables(backup(), { tables: ['audit'], dataOnly: false });
    const script = await text(selection.script);
    expect(script).toContain('CREATE FUNCTION public.log_it()');
    expect(script).toContain('CREATE TRIGGER logged');
    expect(script).not.toContain('order_count');
    expect(selection.warnings).toEqual([
      'left out function public.order_count(): it needs public.orders, which is not restored (add --table public.orders to keep it)',
      'left out trigger public.audit.counted: it needs public.order_count, which is not restored',
    ]);
  });
});

describe('selecting a partitioned table', () => {
  const preData =
    HEADER +
    object(
      'table',
      'public.events',
      'public.events',
      'CREATE TABLE public.events (\n    at date NOT NULL\n)\nPARTITION BY RANGE (at);',
    ) +
    object(
      'table',
      'public.events_2026',
      'public.events_2026',
      "CREATE TABLE public.events_2026 (\n    at date NOT NULL\n);\nALTER TABLE ONLY public.events ATTACH PARTITION public.events_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');",
    ) +
    object('table', 'public.other', 'public.other', 'CREATE TABLE public.other (id integer);');
  const data = `${HEADER}COPY public.events_2026 (at) FROM stdin;\n2026-05-01\n\\.\n\nCOPY public.other (id) FROM stdin;\n1\n\\.\n\n`;
  async function* backup(): AsyncGenerator<RestoreArtifact> {
    yield {
      name: 'pre-data.sql',
      stream: Readable.from([preData]),
      rawBytes: 0,
      meta: { part: 'pre-data', layout: 'per-table' },
    };
    yield {
      name: 'data-0001.sql',
      stream: Readable.from([data]),
      rawBytes: 0,
      meta: { part: 'data', tables: ['public.events_2026', 'public.other'] },
    };
    yield {
      name: 'post-data.sql',
      stream: Readable.from([HEADER]),
      rawBytes: 0,
      meta: { part: 'post-data' },
    };
  }

  it('brings its partitions, their definitions and their rows', async () => {
    const selection = await selectTables(backup(), { tables: ['events'], dataOnly: false });
    const script = await text(selection.script);
    expect(selection.tables).toEqual(['public.events', 'public.events_2026']);
    expect(script).toContain('ATTACH PARTITION public.events_2026');
    expect(script).toContain('COPY public.events_2026 (at) FROM stdin;\n2026-05-01\n');
    expect(script).not.toContain('public.other');
  });

  it('refuses a partition without its table, naming the table', async () => {
    await expect(selectTables(backup(), { tables: ['events_2026'], dataOnly: false })).rejects.toThrow(
      'table public.events_2026 is a partition or child of public.events, which is not selected',
    );
  });
});

describe('selecting tables from a data-only per-table backup (no pre-data)', () => {
  async function* dataOnlyBackup(read: string[]): AsyncGenerator<RestoreArtifact> {
    const list: [string, string, Record<string, unknown>][] = [
      [
        'data-0001.sql',
        DATA_1,
        { part: 'data', layout: 'per-table', tables: ['public.parents', 'audit.children'] },
      ],
      ['data-0002.sql', DATA_2, { part: 'data', tables: ['public.children'] }],
      ['post-data.sql', POST_DATA, { part: 'post-data' }],
    ];
    for (const [name, body, meta] of list) {
      const stream = new Readable({
        read() {
          if (!read.includes(name)) read.push(name);
          this.push(body);
          this.push(null);
        },
      });
      yield { name, stream, rawBytes: body.length, meta: meta as RestoreArtifact['meta'] };
    }
  }

  it("matches the names against the data artifacts' tables and reads only those holding them", async () => {
    const read: string[] = [];
    const selection = await selectTables(dataOnlyBackup(read), {
      tables: ['public.children'],
      dataOnly: true,
    });
    const script = await text(selection.script);
    expect(read).toEqual(['data-0002.sql', 'post-data.sql']);
    expect(script).toContain('COPY public.children (id, parent) FROM stdin;\n10\t1\n\\.\n');
    expect(script).not.toContain('COPY public.parents');
    expect(selection.tables).toEqual(['public.children']);
  });

  it('a name that no data artifact holds fails at the end of the script, as a usage error', async () => {
    const selection = await selectTables(dataOnlyBackup([]), { tables: ['orders'], dataOnly: true });
    await expect(text(selection.script)).rejects.toThrow(
      '--table orders: the backup has no such table; its tables are: audit.children, public.children, public.parents',
    );
  });
});

describe('relation names in SQL', () => {
  it('finds schema-qualified names outside strings and comments, quoted ones exact, unquoted ones folded', () => {
    const names = qualifiedNamesIn(
      `SELECT a.x, "My Schema"."T"."col" FROM Public.Orders o JOIN s . t ON 'public.nope' = E'x\\'public.no' -- public.gone\n /* public.skip */ WHERE $1 = $q$public.q$q$`,
    );
    expect([...names].sort()).toEqual(['My Schema.T', 'a.x', 'public.orders', 's.t']);
  });
});
