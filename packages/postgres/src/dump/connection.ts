import { NexusError, redactSecrets } from '@nexus-backup/core';
import type pg from 'pg';

export const PROVIDER = 'postgres';

/**
 * The URL with its password replaced (user info, `?password=`, `?sslpassword=`), safe for messages,
 * logs and manifests: core's one redactor. Text that is not a URL is not echoed at all.
 */
export function redactUrl(url: string): string {
  return URL.canParse(url) ? redactSecrets(url) : '(unparsable database URL)';
}

/** Host, port, database and user of a URL: the non-secret facts a manifest may record. */
export function describeUrl(url: string): { host: string; port: number; database: string; user: string } {
  const parsed = parseUrl(url);
  return {
    host: parsed.hostname || 'localhost',
    port: Number(parsed.port || 5432),
    database:
      decodeURIComponent(parsed.pathname.replace(/^\//, '')) ||
      decodeURIComponent(parsed.username) ||
      'postgres',
    user: decodeURIComponent(parsed.username),
  };
}

function parseUrl(url: string): URL {
  try {
    const parsed = new URL(url);
    if (parsed.protocol !== 'postgres:' && parsed.protocol !== 'postgresql:')
      throw new Error('not a postgres URL');
    return parsed;
  } catch (error) {
    throw new NexusError('USAGE', `the database URL is not a postgresql:// URL: ${redactUrl(url)}`, {
      provider: PROVIDER,
      cause: error,
      hint: 'pass --db postgresql://user@host:5432/database (or set DATABASE_URL)',
    });
  }
}

const KEEPALIVE_IDLE_MS = 30_000;
const DEFAULT_CONNECT_TIMEOUT_S = 60;

/** libpq's PGCONNECT_TIMEOUT (seconds; 0 waits for ever), else a minute. */
function connectTimeoutMs(): number {
  const given = process.env.PGCONNECT_TIMEOUT?.trim();
  if (given === undefined || given === '') return DEFAULT_CONNECT_TIMEOUT_S * 1000;
  if (!/^[0-9]+$/.test(given)) {
    throw new NexusError('USAGE', `PGCONNECT_TIMEOUT must be a whole number of seconds, got "${given}"`, {
      provider: PROVIDER,
      hint: 'set PGCONNECT_TIMEOUT=30 (or unset it for the default of 60 seconds; 0 waits for ever)',
    });
  }
  return Number(given) * 1000;
}

/**
 * Connects with node-postgres (lazy-imported, so loading the provider loads no driver) and turns the
 * usual failures into errors that say what to fix, never showing the password.
 */
export async function connect(url: string, applicationName = 'nexus-backup'): Promise<pg.Client> {
  parseUrl(url);
  const { default: pgModule } = await import('pg');
  const client = new pgModule.Client({
    connectionString: url,
    application_name: applicationName,
    // A server that stops answering must not hang a 3 a.m. run for ever. TCP keepalive finds a dead
    // host or a cut network (first probe after 30 s idle; then the system's interval and count, about
    // 11 minutes on Linux); a server that takes the connection and never finishes the startup is given
    // PGCONNECT_TIMEOUT seconds, as libpq does, or a minute. A live server that stops answering
    // mid-query still waits, as pg_dump and psql do.
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_IDLE_MS,
    connectionTimeoutMillis: connectTimeoutMs(),
  });
  // An idle client whose server goes away emits 'error'; the pending query rejects with it anyway.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined);
    throw connectionError(error, url);
  }
  return client;
}

export function connectionError(error: unknown, url: string): NexusError {
  const shown = redactUrl(url);
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  const { host, port, database, user } = describeUrl(url);
  if (code === '3D000') {
    return new NexusError(
      'NOT_FOUND',
      `database "${database}" does not exist on ${host}:${port} (${shown})`,
      {
        provider: PROVIDER,
        cause: error,
        hint: 'check the database name in the URL, or create it first (restore can with --create-db)',
      },
    );
  }
  if (code === '28P01' || code === '28000') {
    return new NexusError(
      'CONNECTION',
      `the server ${host}:${port} refused user "${user}" (${shown}): ${message}`,
      {
        provider: PROVIDER,
        cause: error,
        hint: 'check the user and password in the URL (or in PGPASSWORD/.pgpass) and pg_hba.conf',
      },
    );
  }
  if (
    code === 'ECONNREFUSED' ||
    code === 'ENOTFOUND' ||
    code === 'EHOSTUNREACH' ||
    code === 'ETIMEDOUT' ||
    code === 'EAI_AGAIN'
  ) {
    return new NexusError('CONNECTION', `cannot reach PostgreSQL at ${host}:${port} (${shown}): ${code}`, {
      provider: PROVIDER,
      cause: error,
      hint: 'check that the server is running and the host and port in the URL are right',
    });
  }
  if (/connection timeout|timeout expired/i.test(message)) {
    return new NexusError(
      'CONNECTION',
      `PostgreSQL at ${host}:${port} (${shown}) took the connection but did not answer within ${connectTimeoutMs() / 1000} s`,
      {
        provider: PROVIDER,
        cause: error,
        hint: "check that the server is up and not overloaded, and that the port is PostgreSQL's; PGCONNECT_TIMEOUT sets the wait in seconds",
      },
    );
  }
  return new NexusError(
    'CONNECTION',
    `cannot connect to PostgreSQL at ${host}:${port} (${shown}): ${message}`,
    {
      provider: PROVIDER,
      cause: error,
      hint: 'check the database URL',
    },
  );
}
