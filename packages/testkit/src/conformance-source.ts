import { Readable } from 'node:stream';
import type {
  Json,
  Logger,
  OptionValues,
  RestoreArtifact,
  RestoreReport,
  RunContext,
  Source,
} from '@nexus-backup/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAbortLike, rejectionOf } from './conformance-assertions.js';
import { collectStream } from './conformance-streams.js';
import { createTestContext } from './context.js';

export interface SourceUnderTest {
  /** The source, configured to read the fixture data the setup prepared. */
  source: Source;
  /** Context for backup and restore; default: a test context with passphrase `conformance passphrase`. */
  ctx?: RunContext;
  /** A fresh, empty restore target, as the restore options `source.restore` takes (e.g. `{ toDir }`, `{ db }`). */
  createTarget(): Promise<OptionValues>;
  /** Throws (use `expect`) unless `target` holds the same data the backup was taken from. */
  expectRestored(target: OptionValues): Promise<void>;
  /**
   * A comparable picture of a target's whole state (files with modes and hashes, tables with rows),
   * compared with `toEqual` before and after a failed restore to prove nothing changed.
   */
  snapshot(target: OptionValues): Promise<unknown>;
  /** Secrets the source can see (passwords, key material) that must never reach describe(), meta, reports or logs. */
  secrets?: string[];
  teardown?(): Promise<void>;
}

/** An artifact read fully into memory: sources under test back up fixture-sized data. */
interface CapturedArtifact {
  name: string;
  data: Buffer;
  meta: { [key: string]: Json };
}

/**
 * Registers the Source conformance tests. `setup` runs once for the block (start servers and load the
 * fixture there); every test that restores asks `createTarget()` for a fresh target. Artifact streams
 * are read to the end, in order, before the next artifact is asked for, as the pipeline does.
 */
export function describeSourceConformance(name: string, setup: () => Promise<SourceUnderTest>): void {
  describe(`${name} (source conformance)`, () => {
    let underTest: SourceUnderTest;
    let lines: string[];
    let ctx: RunContext;

    beforeAll(async () => {
      underTest = await setup();
      lines = [];
      // Log lines are searched for secrets too, so a context from setup still has its lines seen here.
      ctx = underTest.ctx
        ? { ...underTest.ctx, log: teeLog(underTest.ctx.log, lines) }
        : createTestContext({ passphrase: 'conformance passphrase', lines });
    });

    afterAll(async () => {
      await underTest?.teardown?.();
    });

    async function backupAll(): Promise<CapturedArtifact[]> {
      const captured: CapturedArtifact[] = [];
      for await (const artifact of underTest.source.backup(ctx)) {
        const data = await collectStream(artifact.stream);
        captured.push({ name: artifact.name, data, meta: asManifestJson(artifact.meta ?? {}) });
      }
      return captured;
    }

    function restoreArtifacts(
      captured: CapturedArtifact[],
      failLast = false,
    ): AsyncIterable<RestoreArtifact> {
      return (async function* () {
        for (const [index, artifact] of captured.entries()) {
          const failing = failLast && index === captured.length - 1;
          yield {
            name: artifact.name,
            rawBytes: artifact.data.length,
            meta: asManifestJson(artifact.meta),
            stream: failing ? failsHalfway(artifact.data) : Readable.from(splitIntoChunks(artifact.data)),
          };
        }
      })();
    }

    it('backs up at least one artifact, each a uniquely named stream that ends, with bytes in total', async () => {
      const captured = await backupAll();
      expect(captured.length).toBeGreaterThan(0);
      const names = captured.map((artifact) => artifact.name);
      expect(new Set(names).size).toBe(names.length);
      for (const artifactName of names) expect(artifactName).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      expect(captured.reduce((sum, artifact) => sum + artifact.data.length, 0)).toBeGreaterThan(0);
    });

    it('restores its artifacts into a fresh target with the same data', async () => {
      const captured = await backupAll();
      const target = await underTest.createTarget();
      const report: RestoreReport = await underTest.source.restore(ctx, restoreArtifacts(captured), target);
      expect(Array.isArray(report.lines)).toBe(true);
      for (const line of report.lines) expect(typeof line).toBe('string');
      await underTest.expectRestored(target);
    });

    it('leaves the target as it was when an artifact stream fails mid-way', async () => {
      const captured = await backupAll();
      const target = await underTest.createTarget();
      const before = await underTest.snapshot(target);
      // The last artifact fails, so any earlier ones were fully handed over: those must be undone too.
      const error = await rejectionOf(
        underTest.source.restore(ctx, restoreArtifacts(captured, true), target),
      );
      expect(error, 'restore succeeded although an artifact stream failed').toBeDefined();
      expect(await underTest.snapshot(target)).toEqual(before);
    });

    it('describes itself with JSON facts and no secret anywhere it writes', async () => {
      const description = await underTest.source.describe(ctx);
      expect(asManifestJson(description), 'describe() must return plain JSON').toStrictEqual(description);
      const captured = await backupAll();
      const target = await underTest.createTarget();
      const report = await underTest.source.restore(ctx, restoreArtifacts(captured), target);
      const written = JSON.stringify({
        description,
        artifacts: captured.map(({ name, meta }) => ({ name, meta })),
        report,
        lines,
      });
      for (const secret of underTest.secrets ?? []) {
        expect(secret.length, 'a secret to look for must not be empty').toBeGreaterThan(0);
        expect(written.includes(secret), `a secret appeared in describe(), meta, the report or logs`).toBe(
          false,
        );
      }
    });

    it('refuses to back up with an already aborted signal', async () => {
      const aborted = { ...ctx, signal: AbortSignal.abort() };
      const attempt = async () => {
        for await (const artifact of underTest.source.backup(aborted)) await collectStream(artifact.stream);
      };
      const error = await rejectionOf(attempt());
      expect(error, 'backup finished although its signal was aborted').toBeDefined();
      expect(isAbortLike(error), `backup failed with a non-abort error: ${String(error)}`).toBe(true);
    });
  });
}

function teeLog(log: Logger, lines: string[]): Logger {
  return {
    info: (message) => {
      lines.push(`info ${message}`);
      log.info(message);
    },
    warn: (message) => {
      lines.push(`warn ${message}`);
      log.warn(message);
    },
    debug: (message) => {
      lines.push(`debug ${message}`);
      log.debug(message);
    },
  };
}

/** What a manifest hands back: the value after a JSON round trip. */
function asManifestJson<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function* splitIntoChunks(data: Buffer, size = 16 * 1024): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

/** Half of the artifact, then the error restore sees when a stored hash does not match. */
function failsHalfway(data: Buffer): Readable {
  const half = data.subarray(0, data.length >> 1);
  return Readable.from(
    (async function* () {
      yield* splitIntoChunks(half);
      const error = new Error('artifact failed its integrity check mid-stream (conformance test)');
      Object.assign(error, { name: 'NexusError', code: 'INTEGRITY' });
      throw error;
    })(),
  );
}
