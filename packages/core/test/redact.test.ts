import { redactSecrets, redactValue } from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';

describe('one redactor for everything printed', () => {
  it.each([
    ['postgresql://u:pw@h/db', 'postgresql://u:***@h/db'],
    ['postgresql://:pw@h/db', 'postgresql://:***@h/db'],
    ['postgresql://u@h/db?sslmode=require&password=pw', 'postgresql://u@h/db?sslmode=require&password=***'],
    ['postgresql://u@h/db?sslpassword=pw#x', 'postgresql://u@h/db?sslpassword=***#x'],
    ['s3://key:secret@bucket/p', 's3://key:***@bucket/p'],
    ['host=h password=pw dbname=app', 'host=h password=*** dbname=app'],
    ["host=h password='p w' dbname=app", 'host=h password=*** dbname=app'],
    ['https://h/x?token=abc&a=b', 'https://h/x?token=***&a=b'],
  ])('%s -> %s', (input, expected) => {
    expect(redactSecrets(input)).toBe(expected);
  });

  it('redacts URLs inside a message and leaves text already redacted as it is', () => {
    const message = 'cannot reach postgresql://u:pw@h:5432/db?password=pw2 (ECONNREFUSED)';
    const once = redactSecrets(message);
    expect(once).toBe('cannot reach postgresql://u:***@h:5432/db?password=*** (ECONNREFUSED)');
    expect(redactSecrets(once)).toBe(once);
    expect(redactSecrets('a password on the command line (host=h password=***): see')).toBe(
      'a password on the command line (host=h password=***): see',
    );
  });

  it('leaves text without secrets unchanged', () => {
    for (const text of [
      's3://bucket/p?region=eu-west-1',
      'sftp://backup@h:22/srv',
      'restored 12 files into /tmp/x',
    ]) {
      expect(redactSecrets(text)).toBe(text);
    }
  });

  it('redacts every string in a JSON value and fields named like secrets', () => {
    expect(
      redactValue({
        db: 'postgresql://u:pw@h/db',
        nested: [{ password: 'pw', note: 'ok' }],
        n: 3,
        empty: null,
      }),
    ).toEqual({
      db: 'postgresql://u:***@h/db',
      nested: [{ password: '***', note: 'ok' }],
      n: 3,
      empty: null,
    });
  });
});
