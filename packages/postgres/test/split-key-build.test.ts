import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { type MarkedEvent, readMarkedScript } from '../src/restore/object-markers.js';
import { planPostData } from '../src/restore/post-data-plan.js';
import { splitKeyBuild } from '../src/restore/split-key-build.js';

describe('which key constraints restore --jobs builds as an index and then its attach', () => {
  it.each([
    [
      'ALTER TABLE ONLY public.streaming_chunks\n    ADD CONSTRAINT streaming_chunks_pkey PRIMARY KEY (id);',
      'CREATE UNIQUE INDEX streaming_chunks_pkey ON public.streaming_chunks USING btree (id);',
      'ALTER TABLE ONLY public.streaming_chunks ADD CONSTRAINT streaming_chunks_pkey PRIMARY KEY USING INDEX streaming_chunks_pkey;',
      ['id'],
    ],
    [
      'ALTER TABLE ONLY public.streaming_chunks ADD CONSTRAINT chunks_key UNIQUE (request_id, chunk_index);',
      'CREATE UNIQUE INDEX chunks_key ON public.streaming_chunks USING btree (request_id, chunk_index);',
      'ALTER TABLE ONLY public.streaming_chunks ADD CONSTRAINT chunks_key UNIQUE USING INDEX chunks_key;',
      ['request_id', 'chunk_index'],
    ],
    [
      'ALTER TABLE ONLY "App"."Odd Table" ADD CONSTRAINT "Odd ""Key""" PRIMARY KEY ("Id", "order", Lower_Case)',
      'CREATE UNIQUE INDEX "Odd ""Key""" ON "App"."Odd Table" USING btree ("Id", "order", Lower_Case);',
      'ALTER TABLE ONLY "App"."Odd Table" ADD CONSTRAINT "Odd ""Key""" PRIMARY KEY USING INDEX "Odd ""Key""";',
      ['Id', 'order', 'lower_case'],
    ],
  ])('%s', (sql, createIndex, attach, columns) => {
    expect(splitKeyBuild(sql)).toMatchObject({ createIndex, attach, columns });
  });

  it.each([
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id) INCLUDE (extra);',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE (id) WITH (fillfactor=70);',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id) USING INDEX TABLESPACE fast;',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE NULLS NOT DISTINCT (v);',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE (id) DEFERRABLE INITIALLY DEFERRED;',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id) DEFERRABLE;',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id, valid_at WITHOUT OVERLAPS);',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_excl EXCLUDE USING gist (during WITH &&);',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey;',
    'CREATE UNIQUE INDEX t_u ON public.t USING btree (id);',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_fk FOREIGN KEY (id) REFERENCES public.u(id);',
  ])('keeps %s one statement', (sql) => {
    expect(splitKeyBuild(sql)).toBeUndefined();
  });
});

describe('the post-data plan of a key built in two steps', () => {
  const script = [
    '-- nexus-object: {"kind":"constraint","name":"public.t.t_pkey","table":"public.t"}',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);',
    '-- nexus-object: {"kind":"constraint","name":"public.t.t_u","table":"public.t"}',
    'ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE (a, b);',
    '-- nexus-object: {"kind":"index","name":"public.t_a","table":"public.t"}',
    'CREATE INDEX t_a ON public.t USING btree (a);',
    '',
  ].join('\n');

  async function plan(notNull: Map<string, Set<string>>) {
    const events: MarkedEvent[] = [];
    for await (const event of readMarkedScript(Readable.from([script]), 'post-data.sql')) events.push(event);
    return planPostData(events, new Set(), notNull);
  }

  it("builds each key's index beside the table's other builds, its attach after that index and locking the table", async () => {
    const { early, rest } = await plan(new Map([['public.t', new Set(['id'])]]));
    expect(rest).toEqual([]);
    expect(early.map((statement) => statement.event.sql)).toEqual([
      'CREATE UNIQUE INDEX t_pkey ON public.t USING btree (id);',
      'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey;',
      'CREATE UNIQUE INDEX t_u ON public.t USING btree (a, b);',
      'ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE USING INDEX t_u;',
      'CREATE INDEX t_a ON public.t USING btree (a);',
    ]);
    expect(early.map((statement) => statement.work)).toEqual([
      { group: 'build', exclusive: [], shared: ['public.t'] },
      { group: 'build', exclusive: ['public.t'], shared: [] },
      { group: 'build', exclusive: [], shared: ['public.t'] },
      { group: 'build', exclusive: ['public.t'], shared: [] },
      { group: 'build', exclusive: [], shared: ['public.t'] },
    ]);
    expect(early[1]?.after).toBe(early[0]);
    expect(early[3]?.after).toBe(early[2]);
    expect([early[0], early[2], early[4]].map((statement) => statement?.after)).toEqual([
      undefined,
      undefined,
      undefined,
    ]);
    // Errors still name the script line of the constraint.
    expect(early.map((statement) => statement.event.line)).toEqual([2, 2, 4, 4, 6]);
  });

  it('keeps the single statement of a primary key whose column is not NOT NULL in the restored table', async () => {
    const { early } = await plan(new Map([['public.t', new Set(['a', 'b'])]]));
    expect(early.map((statement) => statement.event.sql)).toEqual([
      'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY (id);',
      'CREATE UNIQUE INDEX t_u ON public.t USING btree (a, b);',
      'ALTER TABLE ONLY public.t ADD CONSTRAINT t_u UNIQUE USING INDEX t_u;',
      'CREATE INDEX t_a ON public.t USING btree (a);',
    ]);
  });
});
