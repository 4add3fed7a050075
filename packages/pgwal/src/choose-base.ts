import { type BackupEntry, NexusError, type RestoreChoice } from '@nexus-backup/core';
import { LABEL_ARTIFACT, readWalMeta } from './base-info.js';

interface RestoreTargetOptions {
  targetTime?: unknown;
  targetLsn?: unknown;
}

/**
 * `restore base --target-time T` (or `base@latest`): the newest base backup that ended before the
 * target, since recovery can only move forward from a backup's end (its stop time, or its stop LSN for
 * `--target-lsn`). `base@ID` is kept as chosen (restoreBase refuses it when it ended after the target).
 * Other targets (name, xid, latest) cannot be placed before replay: the newest backup is kept.
 */
export function chooseBaseBackup(
  candidates: BackupEntry[],
  selected: BackupEntry,
  target: RestoreTargetOptions,
  pinned: boolean,
): RestoreChoice {
  const limit = targetLimit(target);
  if (!limit || pinned) return { backup: selected };
  const fitting = candidates.filter((backup) => backup.pipeline === selected.pipeline && limit.fits(backup));
  const chosen = fitting.at(-1);
  if (!chosen) {
    const oldest = candidates.find((backup) => backup.pipeline === selected.pipeline) ?? selected;
    throw new NexusError(
      'TARGET',
      `no base backup of ${selected.pipeline} ended before ${limit.flag} ${limit.text}: the oldest, ${oldest.id}, ended at ${limit.describe(oldest)}`,
      {
        provider: 'pgbase',
        hint: 'a point before the oldest base backup cannot be reached; pick a later target',
      },
    );
  }
  if (chosen.id === selected.id) return { backup: selected };
  return {
    backup: chosen,
    note: `restoring ${chosen.pipeline}@${chosen.id}, the newest base backup that ended before ${limit.flag} ${limit.text} (${selected.id} ended at ${limit.describe(selected)}, after it)`,
  };
}

interface TargetLimit {
  flag: string;
  text: string;
  fits(backup: BackupEntry): boolean;
  describe(backup: BackupEntry): string;
}

function targetLimit(target: RestoreTargetOptions): TargetLimit | undefined {
  const time =
    typeof target.targetTime === 'string' && target.targetTime !== 'latest' ? target.targetTime : undefined;
  if (time !== undefined) {
    const at = Date.parse(time);
    // An unparsable time is refused with its own message by restoreBase.
    if (Number.isNaN(at)) return undefined;
    return {
      flag: '--target-time',
      text: time,
      fits: (backup) => Date.parse(stopOf(backup).stopTime) <= at,
      describe: (backup) => stopOf(backup).stopTime,
    };
  }
  if (typeof target.targetLsn === 'string' && /^[0-9A-Fa-f]{1,8}\/[0-9A-Fa-f]{1,8}$/.test(target.targetLsn)) {
    const lsn = lsnValue(target.targetLsn);
    return {
      flag: '--target-lsn',
      text: target.targetLsn,
      fits: (backup) => lsnValue(stopOf(backup).stopLsn) <= lsn,
      describe: (backup) => `LSN ${stopOf(backup).stopLsn}`,
    };
  }
  return undefined;
}

/** The stop facts a base backup's label artifact records; a backup without them never fits. */
function stopOf(backup: BackupEntry): { stopTime: string; stopLsn: string } {
  const label = backup.manifest.artifacts.find((artifact) => artifact.name === LABEL_ARTIFACT);
  const wal = label ? readWalMeta(label.meta) : undefined;
  return { stopTime: wal?.stopTime ?? 'an unknown time', stopLsn: wal?.stopLsn ?? 'FFFFFFFF/FFFFFFFF' };
}

export function lsnValue(lsn: string): bigint {
  const [high = '0', low = '0'] = lsn.split('/');
  return BigInt(`0x${high}`) * 0x100000000n + BigInt(`0x${low}`);
}
