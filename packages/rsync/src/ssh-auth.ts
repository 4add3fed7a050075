import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { NexusError } from '@nexus-backup/core';
import type { SftpOptions } from './sftp-options.js';

/** The credential part of an ssh2 connect config, plus a description of it for error messages. */
export interface SshCredentials {
  username: string;
  privateKey?: Buffer;
  passphrase?: string;
  agent?: string;
  password?: string;
  /** e.g. `publickey (/root/.ssh/id_ed25519), agent`; never a secret. */
  tried: string;
}

const DEFAULT_KEYS = ['id_ed25519', 'id_ecdsa', 'id_rsa'];

/**
 * The files are read synchronously (a key, a passphrase): connecting then starts without waiting
 * for the event loop, which the CLI keeps busy loading its commands right after opening repositories.
 */
export async function loadCredentials(
  options: SftpOptions,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SshCredentials> {
  const usage = (message: string, hint?: string) =>
    new NexusError('USAGE', message, { provider: 'sftp', hint });
  const username = options.user ?? env.USER ?? env.LOGNAME ?? 'root';
  const credentials: SshCredentials = { username, tried: '' };
  const tried: string[] = [];

  const identity =
    options.identity ?? DEFAULT_KEYS.map((name) => join(homedir(), '.ssh', name)).find(existsSync);
  if (identity) {
    try {
      credentials.privateKey = readFileSync(identity);
    } catch (error) {
      throw usage(
        `cannot read the private key ${identity}: ${(error as Error).message}`,
        'check the identity= option',
      );
    }
    tried.push(`publickey (${identity})`);
  }
  if (options.identityPassphraseEnv) {
    const value = env[options.identityPassphraseEnv];
    if (value === undefined) {
      throw usage(`identityPassphraseEnv names $${options.identityPassphraseEnv}, which is not set`);
    }
    credentials.passphrase = value;
  } else if (options.identityPassphraseFile) {
    try {
      credentials.passphrase = readFileSync(options.identityPassphraseFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw usage(
        `cannot read identityPassphraseFile ${options.identityPassphraseFile}: ${(error as Error).message}`,
      );
    }
  }

  const agentSocket = env.SSH_AUTH_SOCK;
  if (options.agent === true && !agentSocket) {
    throw usage(
      'agent=true but $SSH_AUTH_SOCK is not set',
      'start ssh-agent and ssh-add your key, or use identity=',
    );
  }
  if (options.agent !== false && agentSocket) {
    credentials.agent = agentSocket;
    tried.push('agent');
  }

  if (options.passwordEnv) {
    const value = env[options.passwordEnv];
    if (value === undefined) throw usage(`passwordEnv names $${options.passwordEnv}, which is not set`);
    credentials.password = value;
    tried.push(`password ($${options.passwordEnv})`);
  }

  if (tried.length === 0) {
    throw usage(
      `no way to log in to ${options.host}: no identity file, no ssh-agent and no passwordEnv`,
      'pass identity=/path/to/key in the URL (or --identity), run ssh-agent, or set passwordEnv=VAR',
    );
  }
  credentials.tried = tried.join(', ');
  return credentials;
}
