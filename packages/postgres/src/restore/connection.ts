import { NexusError } from '@nexus-backup/core';
import type { Client } from 'pg';
import { redactConnectionUrl } from './redact-url.js';

/** Loaded on first use so that importing the package (e.g. for `--help`) loads no driver. */
async function loadPg(): Promise<typeof import('pg').default> {
  return (await import('pg')).default;
}

/** Opens a connection, turning the usual failures into errors that say what to check. */
export async function connectTo(url: string, purpose: string): Promise<Client> {
  const pg = await loadPg();
  const client = new pg.Client({ connectionString: url, application_name: `nexus-backup ${purpose}` });
  // Without a listener, an error on an idle connection (server restart) would crash the process.
  client.on('error', () => {});
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => {});
    throw connectionError(error, url);
  }
  return client;
}

function connectionError(error: unknown, url: string): NexusError {
  const where = redactConnectionUrl(url);
  const code = (error as { code?: string }).code;
  const detail = error instanceof Error ? error.message : String(error);
  const options = { provider: 'postgres', cause: error };
  if (code === '3D000') {
    return new NexusError('NOT_FOUND', `${detail} (${where})`, {
      ...options,
      hint: 'create the database first, or restore with createDb to create a new one',
    });
  }
  if (code === '28P01' || code === '28000') {
    return new NexusError('CONNECTION', `PostgreSQL refused the login at ${where}: ${detail}`, {
      ...options,
      hint: 'check the user and password of the database URL',
    });
  }
  return new NexusError('CONNECTION', `could not connect to PostgreSQL at ${where}: ${detail}`, {
    ...options,
    hint: 'check that the server runs and the host and port of the database URL',
  });
}

/** The URL of another database on the same server, with the same user, password and parameters. */
export function urlForDatabase(url: string, database: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (error) {
    throw new NexusError('USAGE', `the database URL ${redactConnectionUrl(url)} is not a URL`, {
      provider: 'postgres',
      cause: error,
      hint: 'use the form postgresql://user@host:5432/database',
    });
  }
  parsed.pathname = `/${encodeURIComponent(database)}`;
  parsed.searchParams.delete('dbname');
  return parsed.toString();
}

/** The database a URL names, for messages. */
export function databaseOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).pathname.replace(/^\//, '')) || '(default)';
  } catch {
    return '(unknown)';
  }
}
