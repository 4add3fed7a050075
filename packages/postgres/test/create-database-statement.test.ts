import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createDatabaseStatement } from '../src/restore/create-database-sql.js';

// Quoting only: pg's escape functions need no connection.
const client = new pg.Client();
const icu = { encoding: 'UTF8', collate: 'C', ctype: 'C', provider: 'icu', locale: 'de', icuRules: '&a < b' };

describe('CREATE DATABASE for a restore into a new database', () => {
  it('is the server defaults from template0 for a backup that recorded no locale', () => {
    expect(createDatabaseStatement(client, 'app', undefined, 180000)).toBe(
      'CREATE DATABASE "app" TEMPLATE template0',
    );
  });

  it("names the source's encoding and libc locale, quoted", () => {
    expect(
      createDatabaseStatement(client, 'app', { encoding: 'LATIN1', collate: "it's", ctype: 'C' }, 130000),
    ).toBe(`CREATE DATABASE "app" TEMPLATE template0 ENCODING 'LATIN1' LC_COLLATE 'it''s' LC_CTYPE 'C'`);
  });

  it('adds the ICU locale, and its rules where the server takes them (16+)', () => {
    expect(createDatabaseStatement(client, 'app', icu, 160000)).toMatch(
      /LOCALE_PROVIDER icu ICU_LOCALE 'de' ICU_RULES '&a < b'$/,
    );
    expect(createDatabaseStatement(client, 'app', icu, 150000)).toMatch(
      /LOCALE_PROVIDER icu ICU_LOCALE 'de'$/,
    );
  });

  it('adds the builtin locale on 17+', () => {
    const builtin = { encoding: 'UTF8', collate: 'C', ctype: 'C', provider: 'builtin', locale: 'C.UTF-8' };
    expect(createDatabaseStatement(client, 'app', builtin, 170000)).toMatch(
      /LOCALE_PROVIDER builtin BUILTIN_LOCALE 'C\.UTF-8'$/,
    );
  });

  it('refuses a provider the target server cannot create, naming it and what to do', () => {
    expect(() => createDatabaseStatement(client, 'app', icu, 140000)).toThrow(
      /uses the icu locale provider \(de\), which this PostgreSQL server cannot create/,
    );
    const builtin = { encoding: 'UTF8', collate: 'C', ctype: 'C', provider: 'builtin', locale: 'C' };
    expect(() => createDatabaseStatement(client, 'app', builtin, 160000)).toThrow(/builtin locale provider/);
  });
});
