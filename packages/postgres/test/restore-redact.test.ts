import { describe, expect, it } from 'vitest';
import { redactConnectionUrl } from '../src/restore/redact-url.js';

describe('redactConnectionUrl', () => {
  it('hides the password of a URL and keeps user, host, port and database', () => {
    expect(redactConnectionUrl('postgresql://app:s3cr%40t@db.example:5433/prod')).toBe(
      'postgresql://app:***@db.example:5433/prod',
    );
  });

  it('hides password query parameters', () => {
    const shown = redactConnectionUrl('postgresql://db/prod?user=app&password=hunter2&sslmode=require');
    expect(shown).not.toContain('hunter2');
    expect(shown).toContain('sslmode=require');
  });

  it('hides the password of a libpq key=value string', () => {
    expect(redactConnectionUrl("host=db password='a b' dbname=prod")).toBe(
      'host=db password=*** dbname=prod',
    );
  });

  it('leaves a URL without a password as it is and never echoes an unparsable one', () => {
    expect(redactConnectionUrl('postgresql://app@db/prod')).toBe('postgresql://app@db/prod');
    expect(redactConnectionUrl('postgresql://app:pw@[bad')).toBe('<unparsable connection URL>');
  });
});
