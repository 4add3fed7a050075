import { describe, expect, it } from 'vitest';
import { postDataWork } from '../src/restore/post-data-statement.js';

describe('which post-data statements restore --jobs runs on other connections', () => {
  it.each([
    // Ours (one line) and pg_dump's (ALTER TABLE ONLY ... on two lines) forms.
    [
      'CREATE INDEX api_requests_ts ON public.api_requests USING btree ("timestamp");',
      'build',
      [],
      ['public.api_requests'],
    ],
    [
      'CREATE UNIQUE INDEX "Odd ""name""" ON "App"."Big Table" USING gin (body);',
      'build',
      [],
      ['App.Big Table'],
    ],
    ['CREATE INDEX parent_idx ON ONLY public.parent USING btree (k);', 'build', [], ['public.parent']],
    [
      'ALTER TABLE ONLY public.api_requests\n    ADD CONSTRAINT api_requests_pkey PRIMARY KEY (request_id);',
      'build',
      ['public.api_requests'],
      [],
    ],
    [
      'ALTER TABLE ONLY Public.T ADD CONSTRAINT t_u UNIQUE NULLS NOT DISTINCT (a, b);',
      'build',
      ['public.t'],
      [],
    ],
    // A key attaching its index (a key's build in two steps, split-key-build.ts) locks its table alike.
    [
      'ALTER TABLE ONLY public.t ADD CONSTRAINT t_pkey PRIMARY KEY USING INDEX t_pkey;',
      'build',
      ['public.t'],
      [],
    ],
    ['ALTER TABLE ONLY "S"."T" ADD CONSTRAINT u UNIQUE USING INDEX u;', 'build', ['S.T'], []],
    [
      'ALTER TABLE ONLY public.r ADD CONSTRAINT r_excl EXCLUDE USING gist (during WITH &&);',
      'build',
      ['public.r'],
      [],
    ],
    [
      'ALTER TABLE ONLY public.streaming_chunks\n    ADD CONSTRAINT chunks_fk FOREIGN KEY (request_id) REFERENCES public.api_requests(request_id) ON DELETE CASCADE;',
      'foreign-key',
      ['public.streaming_chunks', 'public.api_requests'],
      [],
    ],
  ])('%s', (sql, group, exclusive, shared) => {
    expect(postDataWork(sql)).toEqual({ group, exclusive, shared });
  });

  it.each([
    'ALTER INDEX public.parent_idx ATTACH PARTITION public.child_idx;',
    'ALTER TABLE public.t ADD CONSTRAINT t_check CHECK (a > 0) NOT VALID;',
    'CREATE TRIGGER t_touch BEFORE UPDATE ON public.t FOR EACH ROW EXECUTE FUNCTION public.touch();',
    "COMMENT ON INDEX public.api_requests_ts IS 'CREATE INDEX x ON y USING btree (z)';",
    'CREATE TABLE public.t (a integer);',
  ])('keeps %s in script order on the main connection', (sql) => {
    expect(postDataWork(sql)).toBeUndefined();
  });
});
