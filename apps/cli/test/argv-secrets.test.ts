import { describe, expect, it } from 'vitest';
import { passwordKind, rejectPasswordsInArgv } from '../src/argv-secrets.js';

describe('the argv guard reads values as libpq does', () => {
  it.each([
    ['postgresql://u:pw@h/db', 'postgres'],
    ['postgres://u:pw@h:5432/db', 'postgres'],
    ['postgresql://:pw@h/db', 'postgres'],
    ['postgresql://u@h/db?password=pw', 'postgres'],
    ['postgresql://u@h/db?sslmode=require&sslpassword=pw', 'postgres'],
    ['postgresql://u@h/db?pass%77ord=pw', 'postgres'],
    ['  postgresql://u:pw@h/db  ', 'postgres'],
    ['postgresql://u:pw@h1:5432,h2:5433/db', 'postgres'],
    ['host=h password=pw', 'postgres'],
    ["host=h dbname=app password='p w'", 'postgres'],
    ['password=pw', 'postgres'],
    ['s3://AKIA:secret@bucket/p', 's3'],
    ['https://u:token@hooks.example/x', 'webhook'],
    ['https://hooks.example/x?token=abc', 'webhook'],
    ['sftp://u:pw@h/p', 'sftp'],
    ['ftp://u:pw@h/p', 'other'],
  ])('%s holds a password (%s)', (value, kind) => {
    expect(passwordKind(value)).toBe(kind);
  });

  it.each([
    'postgresql://u@h/db',
    'postgresql://u:@h/db',
    'postgresql://u@h/db?sslmode=require',
    'postgresql://u@h/db?password=',
    'host=h dbname=app',
    "host=h password=''",
    'users.password = $1',
    'api_requests: password_hash IS NULL',
    's3://bucket/p?region=eu-west-1',
    'sftp://backup@h:22/srv?identity=/root/.ssh/id_ed25519',
    'https://hooks.slack.com/services/T000/B000/XXXX',
    './backups',
  ])('%s holds none', (value) => {
    expect(passwordKind(value)).toBeUndefined();
  });

  it('refuses --flag=value forms and names the value redacted, never the password', () => {
    expect(() => rejectPasswordsInArgv(['backup', 'postgres', '--db=postgresql://u:hunter2@h/db'])).toThrow(
      /a password on the command line \(postgresql:\/\/u:\*\*\*@h\/db\)/,
    );
    try {
      rejectPasswordsInArgv(['--db', 'host=h password=hunter2']);
    } catch (error) {
      expect((error as Error).message).not.toContain('hunter2');
    }
  });
});
