import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

interface JsonReport {
  testResults: { assertionResults: { ancestorTitles: string[]; title: string; status: string }[] }[];
}

/** Failed test titles per suite block, from a child vitest run over fixtures/providers.suite.ts. */
let failedBySuite: Map<string, string[]>;
let passedBySuite: Map<string, string[]>;
let workDir: string;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'testkit-suites-'));
  const outputFile = join(workDir, 'report.json');
  const vitestBin = join(
    dirname(createRequire(import.meta.url).resolve('vitest/package.json')),
    'vitest.mjs',
  );
  const config = fileURLToPath(new URL('./fixtures/vitest.config.ts', import.meta.url));
  await new Promise<void>((resolve) => {
    // Failing tests make the child exit non-zero; that is the point, so only the report matters.
    execFile(
      process.execPath,
      [vitestBin, 'run', '--config', config, '--reporter=json', `--outputFile=${outputFile}`],
      { maxBuffer: 64 * 1024 * 1024 },
      () => resolve(),
    );
  });
  const report = JSON.parse(await readFile(outputFile, 'utf8')) as JsonReport;
  failedBySuite = new Map();
  passedBySuite = new Map();
  for (const file of report.testResults) {
    for (const result of file.assertionResults) {
      const suite = result.ancestorTitles[0] ?? '';
      const bucket = result.status === 'passed' ? passedBySuite : failedBySuite;
      bucket.set(suite, [...(bucket.get(suite) ?? []), result.title]);
    }
  }
}, 300_000);

afterAll(async () => {
  await rm(workDir, { recursive: true, force: true });
});

function failures(suite: string): string[] {
  expect(passedBySuite.has(suite) || failedBySuite.has(suite), `suite "${suite}" did not run`).toBe(true);
  return (failedBySuite.get(suite) ?? []).sort();
}

describe('the destination suite', () => {
  it('passes a sound directory destination', () => {
    expect(failures('sound destination (destination conformance)')).toEqual([]);
  });

  it('catches a destination that writes in place', () => {
    expect(failures('destination writing in place (destination conformance)')).toEqual([
      'keeps the old object when an overwrite fails mid-way',
      'shows readers the whole old object while an overwrite is in flight, then the whole new one',
    ]);
  });

  it('catches a destination that buffers the whole body in memory', () => {
    expect(failures('destination buffering the body (destination conformance)')).toEqual([
      'streams a large object through put and a slow reader of get with bounded memory',
    ]);
  });

  it('catches a destination that ignores ctx.signal', () => {
    expect(failures('destination ignoring abort (destination conformance)')).toEqual([
      'rejects a put aborted through ctx.signal mid-stream, destroys the body and shows nothing',
    ]);
  });

  it('catches a destination whose missing keys are not NexusError NOT_FOUND', () => {
    // Every test that reads a key back after removing or failing it checks the code.
    expect(failures('destination with plain not-found errors (destination conformance)')).toEqual([
      'deletes keys, and deleting a missing key is not an error',
      'rejects a put aborted through ctx.signal mid-stream, destroys the body and shows nothing',
      'rejects a put whose body fails mid-way and shows nothing under the key',
      'rejects get of a missing key with NexusError NOT_FOUND',
    ]);
  });
});

describe('the transform suite', () => {
  it('passes a sound deflate transform', () => {
    expect(failures('sound transform (transform conformance)')).toEqual([]);
  });

  it('catches an identity transform', () => {
    expect(failures('identity transform (transform conformance)')).toEqual([
      'encodes to bytes that differ from the input',
      'fails to decode a truncated encoding instead of ending quietly',
    ]);
  });

  it('catches a transform that holds the whole input before emitting', () => {
    expect(failures('transform buffering everything (transform conformance)')).toEqual([
      'keeps the input at most a bounded distance ahead of a slow sink (backpressure)',
    ]);
  });

  it('catches a transform whose decoder needs more than params()', () => {
    // The empty round trip passes: there is nothing to get wrong.
    expect(failures('transform keeping its key outside params (transform conformance)')).toEqual([
      'fails to decode a truncated encoding instead of ending quietly',
      'round-trips a single byte',
      'round-trips a stream larger than one chunk',
      'round-trips large random data',
    ]);
  });

  it('catches a transform that ignores ctx.signal', () => {
    expect(failures('transform ignoring abort (transform conformance)')).toEqual([
      'refuses to start with an already aborted signal',
      'stops decode with an abort error when ctx.signal aborts mid-stream',
      'stops encode with an abort error when ctx.signal aborts mid-stream',
    ]);
  });
});

describe('the source suite', () => {
  it('passes a sound directory source', () => {
    expect(failures('sound source (source conformance)')).toEqual([]);
  });

  it('catches a source whose failed restore leaves partial files in the target', () => {
    expect(failures('source restoring in place (source conformance)')).toEqual([
      'leaves the target as it was when an artifact stream fails mid-way',
    ]);
  });

  it('catches a source that puts a secret into describe()', () => {
    expect(failures('source describing a secret (source conformance)')).toEqual([
      'describes itself with JSON facts and no secret anywhere it writes',
    ]);
  });

  it('catches a source that logs a secret, also through a context its setup supplied', () => {
    expect(failures('source logging a secret through its own context (source conformance)')).toEqual([
      'describes itself with JSON facts and no secret anywhere it writes',
    ]);
  });

  it('catches a source that backs up with an aborted signal', () => {
    expect(failures('source ignoring abort (source conformance)')).toEqual([
      'refuses to back up with an already aborted signal',
    ]);
  });
});
