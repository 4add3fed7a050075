import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { builtInProfiles, loadProfile, validateProfile } from '../src/subset/profile.js';

const refused = (yaml: string, message: string) =>
  expect(() => validateProfile(parse(yaml), 'my.yaml')).toThrow(
    expect.objectContaining({ code: 'USAGE', message: `profile my.yaml: ${message}` }),
  );

describe('a profile file', () => {
  it('is checked strictly: each mistake is one usage error naming its key path', () => {
    refused('[1, 2]', 'must be a mapping (key: value)');
    refused('name: x', 'selections: is required');
    refused('selections: {}', 'selections: is empty');
    refused(
      'selections: { a: { where: { t: "x = $1" } } }',
      'selections.a.params: lists 0 parameter(s) but the conditions use $1..$1',
    );
    refused('selections: { a: { description: nothing } }', 'selections.a: selects nothing');
    refused(
      'selections: { a: { window: t, params: [date] } }',
      'selections.a.params[0]: must be one of uuid, integer, text',
    );
    refused(
      'selections: { a: { window: "t; drop" } }',
      'selections.a.window: "t; drop" is not a plain table or column name',
    );
    refused(
      'selections: { a: { window: t, groups: [t] } }',
      'selections.a.groups[0]: "t" is not TABLE.COLUMN',
    );
    refused('links: [{ from: a.b }]\nselections: { a: { window: t } }', 'links[0].to: is required');
    refused('since: recent\nselections: { a: { window: t } }', 'since: names no selection; selections: a');
    refused(
      'timeColumns: { t: 3 }\nselections: { a: { window: t } }',
      'timeColumns.t: must be a non-empty string',
    );
    refused(
      'selections: { a: { window: t, wher: x } }',
      'selections.a.wher: unknown key; known keys: description, params, where, window, groups, children, chunks',
    );
  });

  it('reads the parts of a valid profile; its name defaults to the file name', () => {
    const profile = validateProfile(
      parse(`
recognise: [app.projects]
timeColumns: { projects: created_at }
links: [{ from: usage.tenant, to: projects.tenant_id }]
selections:
  tenant: { params: [text], where: { projects: "tenant_id = $1" }, chunks: [projects] }
`),
      '/x/my-saas.yaml',
    );
    expect(profile.name).toBe('my-saas');
    expect(profile.recognise).toEqual([{ schema: 'app', name: 'projects', text: 'app.projects' }]);
    expect(profile.timeColumns).toEqual([
      { table: { name: 'projects', text: 'projects' }, column: 'created_at' },
    ]);
    expect(profile.links[0]?.to).toEqual({
      table: { name: 'projects', text: 'projects' },
      column: 'tenant_id',
    });
    expect(profile.selections.get('tenant')).toMatchObject({
      params: ['text'],
      chunks: [{ name: 'projects' }],
    });
  });

  it('the built-in claude-nexus profile is valid and declares conversation and recent', async () => {
    const [claude] = await builtInProfiles();
    expect(claude?.name).toBe('claude-nexus');
    expect([...(claude?.selections.keys() ?? [])].sort()).toEqual(['conversation', 'recent']);
    expect(claude?.since).toBe('recent');
  });
});

describe('loading a profile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'nexus-profile-'));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a YAML syntax error names the file', async () => {
    const file = join(dir, 'broken.yaml');
    await writeFile(file, 'selections: { a: [\n');
    await expect(loadProfile(file)).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining(`profile ${file} is not valid YAML`),
    });
  });

  it('a name that is no built-in profile lists the built-in ones', async () => {
    await expect(loadProfile('claude')).rejects.toMatchObject({
      code: 'USAGE',
      hint: expect.stringContaining('built-in profiles: claude-nexus'),
    });
  });
});
