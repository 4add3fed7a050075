import { resolveOptions } from '@nexus-backup/core';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addDeclaredOptions, pickDeclaredValues } from '../src/provider-flags.js';

const spec = {
  tables: { type: 'string[]', description: 'tables' },
  param: { type: 'string[]', description: 'bound values', commaSeparated: false },
  createDb: { type: 'string', description: 'new database', valueOptional: true },
  paths: { type: 'string[]', description: 'paths', positional: true },
  password: { type: 'string', description: 'never a flag', secret: true },
} as const;

function parse(argv: string[]) {
  const command = new Command('test').exitOverride();
  addDeclaredOptions(command, spec);
  let values: Record<string, unknown> = {};
  command.action((paths: string[]) => {
    values = pickDeclaredValues(spec, command.opts(), [paths]);
  });
  command.parse(argv, { from: 'user' });
  return resolveOptions(spec, { path: 'test', provider: 'test', values, fromCli: true, env: {} });
}

describe('flags derived from an options declaration', () => {
  it('list flags repeat and split on commas, unless the option keeps commas', () => {
    const values = parse([
      '--tables',
      'a,b',
      '--tables',
      'c',
      '--param',
      '2024-01-01,12:00',
      '--param',
      'x',
      'one',
      'two',
    ]);
    expect(values).toMatchObject({
      tables: ['a', 'b', 'c'],
      param: ['2024-01-01,12:00', 'x'],
      paths: ['one', 'two'],
    });
  });

  it('an optional-value flag given alone means "the provider picks" (empty string)', () => {
    expect(parse(['--create-db']).createDb).toBe('');
    expect(parse(['--create-db', 'copy1']).createDb).toBe('copy1');
    expect(parse([]).createDb).toBeUndefined();
  });

  it('secret options get no flag at all', () => {
    expect(() => parse(['--password', 'hunter2'])).toThrow(/unknown option '--password'/);
  });
});
