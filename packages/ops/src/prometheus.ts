import { randomBytes } from 'node:crypto';
import { rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { NexusError, type SourceCheckMetric } from '@nexus-backup/core';
import type { PipelineFreshness } from './freshness.js';

interface Gauge {
  name: string;
  help: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/** The node-exporter textfile format: HELP and TYPE once per metric, then its samples. */
export function renderPrometheus(results: PipelineFreshness[], repository: string, checkedAt: Date): string {
  const labels = (pipeline: string) => ({ pipeline, repository });
  const withNewest = results.filter((result) => result.newest);
  const gauges: Gauge[] = [
    {
      name: 'nexus_backup_last_success_timestamp_seconds',
      help: 'Unix time the newest complete backup finished.',
      samples: withNewest.map((r) => ({
        labels: labels(r.pipeline),
        value: Date.parse(r.newest?.finishedAt ?? '') / 1000,
      })),
    },
    {
      name: 'nexus_backup_last_size_bytes',
      help: 'Stored bytes of the newest complete backup.',
      samples: withNewest.map((r) => ({ labels: labels(r.pipeline), value: r.newest?.bytes ?? 0 })),
    },
    {
      name: 'nexus_backup_last_duration_seconds',
      help: 'How long the newest complete backup took.',
      samples: withNewest.map((r) => ({
        labels: labels(r.pipeline),
        value: (r.newest?.durationMs ?? 0) / 1000,
      })),
    },
    {
      name: 'nexus_backup_check_ok',
      help: '1 when the pipeline passed the check (fresh, large enough, manifests readable), else 0.',
      samples: results.map((r) => ({ labels: labels(r.pipeline), value: r.ok ? 1 : 0 })),
    },
    {
      name: 'nexus_backup_check_problems',
      help: 'Number of problems the check found for the pipeline.',
      samples: results.map((r) => ({ labels: labels(r.pipeline), value: r.problems.length })),
    },
    {
      name: 'nexus_backup_check_timestamp_seconds',
      help: 'Unix time of the check that wrote this file.',
      samples: [{ labels: { repository }, value: checkedAt.getTime() / 1000 }],
    },
  ];
  const lines: string[] = [];
  for (const gauge of gauges) {
    lines.push(`# HELP ${gauge.name} ${gauge.help}`, `# TYPE ${gauge.name} gauge`);
    for (const sample of gauge.samples)
      lines.push(`${gauge.name}${renderLabels(sample.labels)} ${sample.value}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Gauges a source's check contributed (e.g. WAL archiving), in the same textfile format. */
export function renderGauges(metrics: SourceCheckMetric[]): string {
  const lines: string[] = [];
  for (const name of new Set(metrics.map((metric) => metric.name))) {
    const samples = metrics.filter((metric) => metric.name === name);
    lines.push(`# HELP ${name} ${samples[0]?.help}`, `# TYPE ${name} gauge`);
    for (const sample of samples) lines.push(`${name}${renderLabels(sample.labels)} ${sample.value}`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

function renderLabels(labels: Record<string, string>): string {
  const pairs = Object.entries(labels).map(([key, value]) => `${key}="${escapeLabel(value)}"`);
  return `{${pairs.join(',')}}`;
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * Writes beside the target, then renames: node-exporter reads the textfile directory at any moment
 * and must never see half a file. The temp name does not end in `.prom`, so it is never collected.
 */
export async function writeTextfileAtomically(file: string, text: string): Promise<void> {
  const temp = join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(3).toString('hex')}.tmp`);
  try {
    await writeFile(temp, text, { mode: 0o644 });
    await rename(temp, file);
  } catch (error) {
    await rm(temp, { force: true });
    throw new NexusError('IO', `cannot write the metrics file ${file}: ${(error as Error).message}`, {
      cause: error,
      hint: 'point --prometheus at a file in a writable directory (node-exporter --collector.textfile.directory)',
    });
  }
}
