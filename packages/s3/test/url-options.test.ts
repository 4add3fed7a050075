import { spawnSync } from 'node:child_process';
import { s3 } from '@nexus-backup/s3';
import { describe, expect, it } from 'vitest';

describe('s3 repository URL', () => {
  it('parses bucket, prefix and every query option into typed options with defaults', () => {
    const options = s3.fromUrl(
      new URL(
        's3://my-bucket/nexus/prod?region=eu-west-1&endpoint=http://127.0.0.1:9000&forcePathStyle=true' +
          '&storageClass=STANDARD_IA&sse=aws:kms&sseKmsKeyId=alias/backups&requestChecksum=when_required' +
          '&partSize=16&queueSize=2&maxAttempts=7&growPartSize=false&idleTimeout=30',
      ),
    );
    expect(options).toEqual({
      bucket: 'my-bucket',
      prefix: 'nexus/prod',
      region: 'eu-west-1',
      endpoint: 'http://127.0.0.1:9000',
      forcePathStyle: true,
      storageClass: 'STANDARD_IA',
      sse: 'aws:kms',
      sseKmsKeyId: 'alias/backups',
      requestChecksum: 'when_required',
      partSize: 16,
      queueSize: 2,
      maxAttempts: 7,
      growPartSize: false,
      idleTimeout: 30,
    });
  });

  it('fills defaults for a bare bucket URL and trims slashes from the prefix', () => {
    expect(s3.fromUrl(new URL('s3://bucket'))).toMatchObject({
      bucket: 'bucket',
      prefix: '',
      forcePathStyle: false,
      requestChecksum: 'when_supported',
      partSize: 8,
      queueSize: 4,
      maxAttempts: 5,
      growPartSize: true,
      idleTimeout: 120,
    });
    expect(s3.fromUrl(new URL('s3://bucket//a/b/')).prefix).toBe('a/b');
  });

  it('accepts kebab-case query keys like the CLI flags', () => {
    expect(s3.fromUrl(new URL('s3://b/p?force-path-style=true&part-size=10'))).toMatchObject({
      forcePathStyle: true,
      partSize: 10,
    });
  });

  it('refuses unknown query keys with a usage error naming them and the known ones', () => {
    let error: unknown;
    try {
      s3.fromUrl(new URL('s3://b/p?regoin=eu-west-1&pathStyle=true'));
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ name: 'NexusError', code: 'USAGE' });
    const message = (error as Error).message;
    expect(message).toContain('regoin');
    expect(message).toContain('pathStyle');
    expect(message).toContain('region');
    expect(message).toContain('forcePathStyle');
  });

  it('refuses credentials in the URL without echoing them, pointing at the SDK chain', () => {
    let error: unknown;
    try {
      s3.fromUrl(new URL('s3://AKIAEXAMPLE:topsecret@bucket/prefix'));
    } catch (caught) {
      error = caught;
    }
    expect(error).toMatchObject({ name: 'NexusError', code: 'USAGE' });
    const { message, hint } = error as { message: string; hint: string };
    expect(`${message} ${hint}`).not.toContain('topsecret');
    expect(`${message} ${hint}`).not.toContain('AKIAEXAMPLE');
    expect(hint).toContain('AWS_ACCESS_KEY_ID');
    expect(hint).toContain('AWS_PROFILE');
  });

  it('refuses bad values: a non-number, a bad choice, a missing bucket', () => {
    expect(() => s3.fromUrl(new URL('s3://b/p?partSize=big'))).toThrow(/partSize=big .* must be a number/);
    expect(() => s3.fromUrl(new URL('s3://b/p?sse=rot13'))).toThrow(/sse=rot13 .* one of AES256, aws:kms/);
    expect(() => s3.fromUrl(new URL('s3:///prefix'))).toThrow(/names no bucket/);
  });

  it('refuses a part size outside 5..5120 MiB and KMS key with AES256 when the destination is created', async () => {
    await expect(s3.create({ ...s3.fromUrl(new URL('s3://b/p?partSize=4')) })).rejects.toMatchObject({
      code: 'USAGE',
      message: expect.stringContaining('partSize'),
    });
    await expect(
      s3.create({ ...s3.fromUrl(new URL('s3://b/p?sse=AES256&sseKmsKeyId=k&region=us-east-1')) }),
    ).rejects.toMatchObject({ code: 'USAGE', message: expect.stringContaining('sseKmsKeyId') });
  });

  it('loads no AWS SDK module until a destination is created', () => {
    // Resolution hooks see every module the import pulls in; `--help` must stay this cheap.
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ resolve(specifier, context, next) { loaded.push(specifier); return next(specifier, context); } });
      const { s3 } = await import('@nexus-backup/s3');
      const before = loaded.filter((s) => s.startsWith('@aws-sdk/')).length;
      await s3.create({ ...s3.fromUrl(new URL('s3://b/p?region=us-east-1')) });
      const after = loaded.filter((s) => s.startsWith('@aws-sdk/')).length;
      console.log(JSON.stringify({ before, after }));`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
      cwd: new URL('.', import.meta.url).pathname,
      encoding: 'utf8',
    });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ before: 0, after: expect.any(Number) });
    expect(JSON.parse(result.stdout).after).toBeGreaterThan(0);
  });
});
