import type { BackupEntry, Manifest } from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';
import { chooseBaseBackup } from '../src/choose-base.js';

/** A base backup entry as a repository scan returns it; only the label artifact's meta matters here. */
function base(id: string, stopTime: string, stopLsn: string): BackupEntry {
  const manifest = {
    source: { provider: 'pgbase' },
    artifacts: [
      {
        name: 'backup_label',
        meta: {
          startLsn: '0/2000028',
          stopLsn,
          timeline: 1,
          startWal: '000000010000000000000002',
          stopWal: '000000010000000000000002',
          stopTime,
          walPipeline: 'wal',
          segmentBytes: 16 * 1024 * 1024,
          serverVersion: '15.0',
        },
      },
    ],
  } as unknown as Manifest;
  return { pipeline: 'base', id, time: new Date(stopTime), manifest, storedBytes: 1 };
}

const monday = base('20261130T020000Z-aaaaaa', '2026-11-30T02:05:00Z', '0/5000100');
const tuesday = base('20261201T020000Z-bbbbbb', '2026-12-01T02:05:00Z', '0/9000100');
const wednesday = base('20261202T020000Z-cccccc', '2026-12-02T02:05:00Z', '0/D000100');
const all = [monday, tuesday, wednesday];

describe('picking the base backup for a restore target', () => {
  it('takes the newest base backup that ended before --target-time, and says which one it took instead of the newest', () => {
    const choice = chooseBaseBackup(all, wednesday, { targetTime: '2026-12-01 14:05:00+00' }, false);
    expect(choice.backup.id).toBe(tuesday.id);
    expect(choice.note).toBe(
      `restoring base@${tuesday.id}, the newest base backup that ended before --target-time 2026-12-01 14:05:00+00 (${wednesday.id} ended at 2026-12-02T02:05:00Z, after it)`,
    );
  });

  it('keeps the newest base backup, without a note, when it ended before the target', () => {
    expect(chooseBaseBackup(all, wednesday, { targetTime: '2026-12-06 14:05:00+00' }, false)).toEqual({
      backup: wednesday,
    });
  });

  it('compares stop LSNs for --target-lsn', () => {
    expect(chooseBaseBackup(all, wednesday, { targetLsn: '0/A000000' }, false).backup.id).toBe(tuesday.id);
    expect(chooseBaseBackup(all, wednesday, { targetLsn: '0/9000100' }, false).backup.id).toBe(tuesday.id);
    expect(chooseBaseBackup(all, wednesday, { targetLsn: '0/90000FF' }, false).backup.id).toBe(monday.id);
  });

  it('never swaps a backup named by its id, and keeps the newest for targets it cannot place (name, xid, none)', () => {
    expect(chooseBaseBackup(all, wednesday, { targetTime: '2026-12-01 14:05:00+00' }, true).backup).toBe(
      wednesday,
    );
    expect(chooseBaseBackup(all, wednesday, { targetName: 'before-migration' } as never, false).backup).toBe(
      wednesday,
    );
    expect(chooseBaseBackup(all, wednesday, {}, false).backup).toBe(wednesday);
  });

  it('refuses a target before the oldest base backup ended, naming that backup and its end', () => {
    expect(() => chooseBaseBackup(all, wednesday, { targetTime: '2026-11-29 12:00:00+00' }, false)).toThrow(
      `no base backup of base ended before --target-time 2026-11-29 12:00:00+00: the oldest, ${monday.id}, ended at 2026-11-30T02:05:00Z`,
    );
  });
});
