import { postgres } from '@nexus-backup/postgres';
import { sftp } from '@nexus-backup/rsync';
import { s3 } from '@nexus-backup/s3';
import { describe, expect, it } from 'vitest';
import { rejectPasswordsInArgv } from '../src/argv-secrets.js';

/** The built-in definitions that declare argv secrets: their hints and detectors are what the CLI uses. */
const installed = async () => [postgres, s3, sftp];

/** The hint the guard gives for one value, or undefined when it lets the value through. */
async function hintFor(value: string): Promise<string | undefined> {
  try {
    await rejectPasswordsInArgv([value], installed);
    return undefined;
  } catch (error) {
    expect((error as Error).message).toMatch(/a password on the command line/);
    return (error as { hint: string }).hint;
  }
}

const HINT = {
  postgres: postgres.argvSecrets?.hint,
  s3: s3.argvSecrets?.hint,
  sftp: sftp.argvSecrets?.hint,
  webhook: expect.stringMatching(/--notify-env VAR/),
  other: 'put the URL in an environment variable, or in the config file as $VAR',
};

describe('webhook URLs whose path is the secret', () => {
  it.each([
    'https://hooks.slack.com/services/T0001/B0001/XXXXXXXXXXXXXXXX',
    'https://discord.com/api/webhooks/1234/abcdef',
    'https://acme.webhook.office.com/webhookb2/abc@def/IncomingWebhook/123/456',
    'https://prod-12.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?sig=x',
    'https://api.telegram.org/bot123456:ABCDEF/sendMessage?chat_id=1',
    'https://maker.ifttt.com/trigger/backup/with/key/abcdef',
    'https://hooks.zapier.com/hooks/catch/123/abc/',
    '--notify=https://hooks.slack.com/services/T0001/B0001/XXXXXXXXXXXXXXXX',
  ])('%s is refused, shown without its path, with the --notify-env hint', async (value) => {
    const error = await rejectPasswordsInArgv([value], installed).catch(
      (e: unknown) => e as Error & { hint: string },
    );
    expect(error?.message).toMatch(
      /^a webhook URL on the command line \(https:\/\/[^/]+\/\*\*\*\): its path is its secret/,
    );
    expect(error?.message).not.toMatch(/XXXX|abcdef|ABCDEF|123456|abc@def|catch/);
    expect(error?.hint).toMatch(/--notify-env VAR/);
  });

  it.each([
    'https://hooks.example/x',
    'https://example.com/services/T0/B0/X',
    'https://hooks.slack.com/',
    'https://discord.com/channels/1/2',
  ])('%s passes (no known secret path)', async (value) => {
    await expect(rejectPasswordsInArgv([value], installed)).resolves.toBeUndefined();
  });
});

describe('the argv guard reads values as libpq does, with the hints providers declare', () => {
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
    ['ssh://u:pw@h/p', 'sftp'],
    ['ftp://u:pw@h/p', 'other'],
  ] as const)('%s holds a password (hint of %s)', async (value, kind) => {
    expect(HINT[kind]).toBeDefined();
    expect(await hintFor(value)).toEqual(HINT[kind]);
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
    './backups',
  ])('%s holds none', async (value) => {
    expect(await hintFor(value)).toBeUndefined();
  });

  it('refuses --flag=value forms and names the value redacted, never the password', async () => {
    await expect(
      rejectPasswordsInArgv(['backup', 'postgres', '--db=postgresql://u:hunter2@h/db'], installed),
    ).rejects.toThrow(/a password on the command line \(postgresql:\/\/u:\*\*\*@h\/db\)/);
    const refused = await rejectPasswordsInArgv(['--db', 'host=h password=hunter2'], installed).catch(
      (error: Error) => error,
    );
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).not.toContain('hunter2');
  });

  it('still refuses a URL password with the generic hint when no provider can be loaded', async () => {
    const broken = async () => {
      throw new Error('a plugin that does not load');
    };
    await expect(rejectPasswordsInArgv(['s3://AKIA:hunter2@bucket/p'], broken)).rejects.toMatchObject({
      hint: HINT.other,
    });
  });

  it('loads no provider for a command line without a password-like value', async () => {
    let loads = 0;
    const counting = async () => {
      loads += 1;
      return installed();
    };
    await rejectPasswordsInArgv(['backup', 'files', 'src', '--to', 's3://bucket/p?region=x'], counting);
    expect(loads).toBe(0);
  });
});
