import { resolveOptions } from '@nexus-backup/core';
import { sftp } from '@nexus-backup/rsync';
import { describe, expect, it } from 'vitest';

describe('sftp repository URLs', () => {
  it('parses user, host, port, path and query options into typed options', () => {
    const url = new URL(
      'sftp://backup@127.0.0.1:2222/srv/backups?identity=/keys/id_ed25519&knownHosts=/keys/known_hosts&retries=4&agent=false',
    );
    expect(sftp.fromUrl(url)).toEqual({
      user: 'backup',
      host: '127.0.0.1',
      port: 2222,
      path: '/srv/backups',
      identity: '/keys/id_ed25519',
      knownHosts: '/keys/known_hosts',
      retries: 4,
      agent: false,
    });
  });

  it('accepts ssh:// too and reads /~/ as relative to the login folder', () => {
    expect(sftp.schemes).toEqual(['sftp', 'ssh']);
    expect(sftp.fromUrl(new URL('ssh://host.example/~/backups'))).toEqual({
      host: 'host.example',
      path: 'backups',
    });
  });

  it('refuses a password in the URL and points to passwordEnv', () => {
    expect(() => sftp.fromUrl(new URL('sftp://backup:hunter2@host.example/srv'))).toThrow(
      expect.objectContaining({ code: 'USAGE', hint: expect.stringContaining('passwordEnv') }),
    );
    expect(() => sftp.fromUrl(new URL('sftp://backup:hunter2@host.example/srv'))).not.toThrow(/hunter2/);
    expect(() => sftp.fromUrl(new URL('sftp://host.example/srv?password=hunter2'))).toThrow(
      expect.objectContaining({ code: 'USAGE' }),
    );
  });

  it('keeps the + of a base64 fingerprint that a query string turns into a space', () => {
    const fingerprint = 'SHA256:ab+cd/efghijklmnopqrstuvwxyz0123456789ABCDEF';
    const options = sftp.fromUrl(new URL(`sftp://host.example/srv?fingerprint=${fingerprint}`));
    expect(options.fingerprint).toBe(fingerprint);
  });

  it('names an unknown query option and a URL without a folder', () => {
    expect(() => sftp.fromUrl(new URL('sftp://host.example/srv?identty=/k'))).toThrow(
      /unknown option "identty"/,
    );
    expect(() => sftp.fromUrl(new URL('sftp://host.example/'))).toThrow(/names no folder/);
  });

  it('takes transport=ssh, and refuses a transport it does not know naming both', () => {
    expect(sftp.fromUrl(new URL('sftp://host.example/srv?transport=ssh'))).toMatchObject({
      transport: 'ssh',
    });
    expect(() =>
      resolveOptions(sftp.options, {
        path: 'sftp',
        provider: 'sftp',
        values: { ...sftp.fromUrl(new URL('sftp://host.example/srv?transport=scp')) },
      }),
    ).toThrow(/must be one of sftp, ssh, got "scp"/);
  });
});
