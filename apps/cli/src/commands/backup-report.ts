import { type BackupResult, EXIT, formatBytes, manifestBytes } from '@nexus-backup/core';
import { printJson } from '../output.js';
import type { Runtime } from '../runtime.js';

/** Prints what a backup stored and returns the exit code: warnings (an optional repository failed) give 1. */
export function reportBackup(result: BackupResult, runtime: Runtime): number {
  const { manifest } = result;
  for (const warning of result.warnings) runtime.log.warn(warning);
  if (runtime.flags.json) {
    printJson({
      pipeline: manifest.pipeline,
      id: manifest.id,
      artifacts: manifest.artifacts.map(({ file, stored, raw }) => ({ file, stored, raw })),
      repositories: result.targets.map((target) => ({
        repository: target.repository,
        ok: target.ok,
        ...(target.error ? { error: target.error.message } : {}),
      })),
      warnings: result.warnings,
    });
  } else {
    const stored = result.targets.filter((target) => target.ok).map((target) => target.repository);
    runtime.log.info(
      `backup ${manifest.pipeline}@${manifest.id}: ${manifest.artifacts.length} artifact(s), ${formatBytes(manifestBytes(manifest))} stored in ${stored.join(', ')}`,
    );
  }
  return result.warnings.length > 0 ? EXIT.warnings : EXIT.ok;
}
