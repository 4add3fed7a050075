import { mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Json } from '../contracts.js';
import { NexusError } from '../errors.js';

/**
 * Where a recovery stands. The order matters: a run that dies is resumed from its last phase by the
 * next `recover` (before `swapping`: discard what was staged; from `swapping`: finish the swap;
 * `rolling-back`/`undoing`: finish swapping back).
 */
export type RecoveryPhase =
  | 'staging'
  | 'stopping'
  | 'swapping'
  | 'swapped'
  | 'rolling-back'
  | 'undoing'
  | 'done'
  | 'rolled-back'
  | 'undone'
  | 'abandoned';

export interface JournalItem {
  pipeline: string;
  backupId: string;
  repository: string;
  /** The source provider, whose recovery support swaps this item. */
  provider: string;
  live: string;
  swap: { [key: string]: Json };
}

export interface RecoveryJournal {
  stamp: string;
  startedAt: string;
  phase: RecoveryPhase;
  items: JournalItem[];
}

const CURRENT = 'current.json';

/** The journal of a recovery in progress (`current.json`), plus finished ones named by their stamp. */
export class JournalStore {
  constructor(readonly dir: string) {}

  async current(): Promise<RecoveryJournal | undefined> {
    return this.read(join(this.dir, CURRENT));
  }

  /** Written atomically (temp file, fsync, rename, fsync of the folder) before each step it describes. */
  async save(journal: RecoveryJournal): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const temp = join(this.dir, `.${CURRENT}.${process.pid}.tmp`);
    const file = await open(temp, 'w', 0o600);
    try {
      await file.writeFile(`${JSON.stringify(journal, null, 2)}\n`);
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(temp, join(this.dir, CURRENT));
    await syncDir(this.dir);
  }

  /** A finished recovery leaves `current.json` for `<stamp>.json`, where `--undo` and `--forget-old` find it. */
  async finish(journal: RecoveryJournal): Promise<void> {
    await this.save(journal);
    await rename(join(this.dir, CURRENT), join(this.dir, `${journal.stamp}.json`));
    await syncDir(this.dir);
  }

  /** Finished recoveries, newest first. */
  async finished(): Promise<RecoveryJournal[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const journals: RecoveryJournal[] = [];
    for (const name of names
      .filter((n) => /^\d{8}T\d{6}Z\.json$/.test(n))
      .sort()
      .reverse()) {
      const journal = await this.read(join(this.dir, name));
      if (journal) journals.push(journal);
    }
    return journals;
  }

  async remove(journal: RecoveryJournal): Promise<void> {
    await rm(join(this.dir, `${journal.stamp}.json`), { force: true });
  }

  private async read(path: string): Promise<RecoveryJournal | undefined> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const journal = JSON.parse(text) as RecoveryJournal;
      if (typeof journal.stamp !== 'string' || !Array.isArray(journal.items))
        throw new Error('missing fields');
      return journal;
    } catch (error) {
      throw new NexusError(
        'INTEGRITY',
        `the recovery journal ${path} is damaged (${(error as Error).message})`,
        {
          hint: 'inspect it by hand; it names the databases and folders a recovery moved',
        },
      );
    }
  }
}

export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `20261206T143000Z`: sorts by time, safe in database and file names. */
export function recoveryStamp(now = new Date()): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}
