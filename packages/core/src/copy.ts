import type { RestoreArtifact, RestoreReport, RunContext, Source } from './contracts.js';

/**
 * Streams a source straight into a restore target with no repository in between, e.g. a database
 * copied into a new database on the same server.
 */
export async function runCopy(
  source: Source,
  target: Record<string, unknown>,
  ctx: RunContext,
  into: Source = source,
): Promise<RestoreReport> {
  async function* artifacts(): AsyncIterable<RestoreArtifact> {
    for await (const artifact of source.backup(ctx)) {
      yield {
        name: artifact.name,
        stream: artifact.stream,
        rawBytes: artifact.expectedBytes ?? 0,
        meta: artifact.meta ?? {},
      };
    }
  }
  return into.restore(ctx, artifacts(), target);
}
