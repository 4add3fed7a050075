import { NexusError } from '@nexus-backup/core';
import type { Client } from 'pg';
import { connect } from '../dump/connection.js';
import { redactConnectionUrl } from './redact-url.js';

/** Opens a connection for the restore; the dump side's `connect` already explains the usual failures. */
export function connectTo(url: string): Promise<Client> {
  return connect(url, 'nexus-backup restore');
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
