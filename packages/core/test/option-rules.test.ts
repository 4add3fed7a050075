import { describe, expect, it } from 'vitest';
import { defineTransform, type OptionsSpec, resolveOptions } from '../src/index.js';

const spec = {
  level: { type: 'number', description: 'level', default: 6, integer: true, min: 1, max: 9 },
  iter: { type: 'number', description: 'iterations', default: 1000, integer: true, min: 1000 },
  ratio: { type: 'number', description: 'ratio', default: 0.5, max: 1 },
  table: { type: 'string', description: 'table', pattern: /^[a-z_]+$/ },
} satisfies OptionsSpec;

const resolve = (values: Record<string, unknown>, fromCli = false) =>
  resolveOptions(spec, { path: 'pipelines.db.transforms[0]', provider: 'demo', values, fromCli });

describe('declared option rules are checked when options are resolved', () => {
  it('a value inside every rule passes unchanged', () => {
    expect(resolve({ level: 9, iter: 5000, ratio: 1, table: 'api_requests' })).toMatchObject({
      level: 9,
      iter: 5000,
      ratio: 1,
      table: 'api_requests',
    });
  });

  it.each([
    [{ level: 0 }, 'demo level must be a whole number from 1 to 9, got 0 (pipelines.db.transforms[0].level)'],
    [{ level: 2.5 }, 'demo level must be a whole number from 1 to 9, got 2.5'],
    [{ iter: 10 }, 'demo iter must be a whole number of at least 1000, got 10'],
    [{ ratio: 1.5 }, 'demo ratio must be a number of at most 1, got 1.5'],
    [{ table: 'Drop Table' }, 'demo table must match /^[a-z_]+$/, got "Drop Table"'],
  ])('%j is refused as a config error naming the rule and where', (values, message) => {
    expect(() => resolve(values)).toThrow(
      expect.objectContaining({ code: 'CONFIG', message: expect.stringContaining(message) }),
    );
  });

  it('a command-line value breaking a rule is a usage error without a config path', () => {
    expect(() => resolve({ level: '42' }, true)).toThrow(
      expect.objectContaining({
        code: 'USAGE',
        message: 'demo level must be a whole number from 1 to 9, got 42',
      }),
    );
  });

  it("a definition's create checks the rules too, for callers that skip resolveOptions", async () => {
    const demo = defineTransform({
      name: 'demo',
      description: 'demo',
      extension: '.demo',
      options: spec,
      create: () => {
        throw new Error('create must not run with a broken rule');
      },
    });
    await expect(demo.create({ level: 12, iter: 1000, ratio: 0.5 })).rejects.toMatchObject({
      code: 'USAGE',
      message: 'demo level must be a whole number from 1 to 9, got 12',
    });
  });
});

describe('a cross-option check in a declaration', () => {
  const pair = {
    low: { type: 'number', description: 'low end', default: 1, check: (values) => order(values) },
    high: { type: 'number', description: 'high end', default: 10 },
  } satisfies OptionsSpec;
  function order(values: Readonly<Record<string, unknown>>): string | undefined {
    return (values.low as number) > (values.high as number)
      ? `low ${String(values.low)} is above high ${String(values.high)}`
      : undefined;
  }
  const resolvePair = (values: Record<string, unknown>, fromCli = false) =>
    resolveOptions(pair, { path: 'pipelines.db.source', provider: 'demo', values, fromCli });

  it('sees every resolved value, defaults included, and passes values that fit together', () => {
    expect(resolvePair({ low: 5 })).toEqual({ low: 5, high: 10 });
    expect(() => resolvePair({ low: 11 })).toThrow(
      expect.objectContaining({
        code: 'CONFIG',
        message: 'demo low 11 is above high 10 (pipelines.db.source.low)',
      }),
    );
  });

  it('is a usage error without a config path for command-line values', () => {
    expect(() => resolvePair({ low: '3', high: '2' }, true)).toThrow(
      expect.objectContaining({ code: 'USAGE', message: 'demo low 3 is above high 2' }),
    );
  });

  it("runs in a definition's create for callers that skip resolveOptions", async () => {
    const demo = defineTransform({
      name: 'demo',
      description: 'demo',
      extension: '.demo',
      options: pair,
      create: () => {
        throw new Error('create must not run when a check fails');
      },
    });
    await expect(demo.create({ low: 4, high: 3 })).rejects.toMatchObject({
      code: 'USAGE',
      message: 'demo low 4 is above high 3',
    });
  });
});
