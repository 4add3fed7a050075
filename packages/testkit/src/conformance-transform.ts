import { type Duplex, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Json, RunContext, Transform } from '@nexus-backup/core';
import { describe, expect, it } from 'vitest';
import { isAbortLike, rejectionOf } from './conformance-assertions.js';
import {
  failingStream,
  hashStream,
  KiB,
  MiB,
  pausingStream,
  randomStream,
  stallingStream,
} from './conformance-streams.js';
import { createTestContext } from './context.js';

export interface TransformUnderTest {
  transform: Transform;
  /** Context for encode and decode (secrets!); default: a test context with passphrase `conformance passphrase`. */
  ctx?: RunContext;
}

export interface TransformConformanceOptions {
  /** The transform's own chunk, block or record size; the suite streams more than one of them. Default 1 MiB. */
  chunkBytes?: number;
  /** Size of the large random round trip. Default 8 MiB. */
  largeBytes?: number;
  /** Bytes pushed through an encoder feeding a slow sink in the backpressure test. Default 32 MiB. */
  backpressureBytes?: number;
  /** How far the input may run ahead of what the slow sink received. Default 16 MiB. */
  maxBufferedBytes?: number;
  capabilities?: {
    /** Decode fails (rather than ending quietly) on a truncated encoding. Default true. */
    detectsTruncation?: boolean;
  };
}

/**
 * Registers the Transform conformance tests. `setup` is called for every encode and again for every
 * decode, so a decoder never shares state with its encoder: it gets only `params()`, JSON round-tripped
 * exactly as restore reads them from a manifest. Random input is used throughout (it does not compress).
 */
export function describeTransformConformance(
  name: string,
  setup: () => Promise<TransformUnderTest>,
  options: TransformConformanceOptions = {},
): void {
  const chunkBytes = options.chunkBytes ?? MiB;
  const largeBytes = options.largeBytes ?? 8 * MiB;
  const backpressureBytes = options.backpressureBytes ?? 32 * MiB;
  const maxBufferedBytes = options.maxBufferedBytes ?? 16 * MiB;
  const detectsTruncation = options.capabilities?.detectsTruncation ?? true;

  const contextOf = (underTest: TransformUnderTest) =>
    underTest.ctx ?? createTestContext({ passphrase: 'conformance passphrase' });

  /** Encodes `input` with one instance and returns the bytes plus the params as a manifest would hold them. */
  async function encodeAll(input: Readable): Promise<{ encoded: Buffer; params: { [key: string]: Json } }> {
    const encoder = await setup();
    const encoderStream = await encoder.transform.encode(contextOf(encoder));
    const collected: Buffer[] = [];
    await pipeline(input, encoderStream, collectInto(collected));
    const params = encoder.transform.params();
    const asStored = JSON.parse(JSON.stringify(params)) as { [key: string]: Json };
    expect(asStored, 'params() must be plain JSON').toStrictEqual(params);
    return { encoded: Buffer.concat(collected), params: asStored };
  }

  /** Decodes with a fresh instance that knows only the stored params. */
  async function decodeAll(encoded: Buffer, params: { [key: string]: Json }) {
    const decoder = await setup();
    const decoderStream = await decoder.transform.decode(contextOf(decoder), params);
    const input = Readable.from(splitIntoChunks(encoded, 64 * KiB));
    let result: { bytes: number; sha256: string } | undefined;
    await pipeline(input, decoderStream, async (decoded: AsyncIterable<Buffer>) => {
      result = await hashStream(Readable.from(decoded));
    });
    return result;
  }

  async function roundTrip(bytes: number) {
    const input = randomStream(bytes);
    const { encoded, params } = await encodeAll(input.stream);
    expect(await decodeAll(encoded, params)).toEqual({ bytes, sha256: input.sha256() });
    return encoded;
  }

  describe(`${name} (transform conformance)`, () => {
    it('round-trips an empty stream', async () => {
      await roundTrip(0);
    });

    it('round-trips a single byte', async () => {
      await roundTrip(1);
    });

    it('round-trips a stream larger than one chunk', async () => {
      await roundTrip(Math.ceil(chunkBytes * 2.5) + 1);
    });

    it('round-trips large random data', async () => {
      await roundTrip(largeBytes);
    });

    it('encodes to bytes that differ from the input', async () => {
      const input = Buffer.from(Array.from({ length: 64 * KiB }, (_, index) => index % 251));
      const { encoded } = await encodeAll(Readable.from([input]));
      expect(encoded.length).toBeGreaterThan(0);
      expect(encoded.equals(input)).toBe(false);
      expect(encoded.includes(input.subarray(0, 4 * KiB))).toBe(false);
    });

    it('keeps the input at most a bounded distance ahead of a slow sink (backpressure)', async () => {
      const underTest = await setup();
      const encoder = await underTest.transform.encode(contextOf(underTest));
      let delivered = 0;
      let maxAhead = 0;
      const input = randomStream(backpressureBytes, {
        onChunk: (produced) => {
          maxAhead = Math.max(maxAhead, produced - delivered);
        },
      });
      const slowSink = new Writable({
        highWaterMark: 16 * KiB,
        write(chunk: Buffer, _encoding, callback) {
          delivered += chunk.length;
          setImmediate(callback); // one chunk per event-loop turn: slower than the input can be made
        },
      });
      await pipeline(input.stream, encoder, slowSink);
      // Random input does not compress, so encoded bytes track input bytes closely.
      expect(delivered).toBeGreaterThanOrEqual(backpressureBytes * 0.9);
      expect(maxAhead, 'bytes the input ran ahead of the sink').toBeLessThan(maxBufferedBytes);
    });

    it('propagates an error of its input and destroys the encoder', async () => {
      const underTest = await setup();
      const encoder = await underTest.transform.encode(contextOf(underTest));
      const input = failingStream(Math.ceil(chunkBytes * 1.5), new Error('input failed mid-way'));
      await expect(pipeline(input, encoder, collectInto([]))).rejects.toThrow('input failed mid-way');
      expect(encoder.destroyed).toBe(true);
    });

    if (detectsTruncation) {
      it('fails to decode a truncated encoding instead of ending quietly', async () => {
        const input = randomStream(Math.ceil(chunkBytes * 1.5));
        const { encoded, params } = await encodeAll(input.stream);
        const truncated = encoded.subarray(0, Math.floor(encoded.length / 2));
        await expect(decodeAll(truncated, params)).rejects.toThrow();
      });
    }

    for (const direction of ['encode', 'decode'] as const) {
      it(`stops ${direction} with an abort error when ctx.signal aborts mid-stream`, async () => {
        const underTest = await setup();
        const controller = new AbortController();
        const ctx = { ...contextOf(underTest), signal: controller.signal };
        let stage: Duplex;
        let input: Readable;
        let midStream: Promise<void>;
        let letInputFinish: () => void;
        if (direction === 'encode') {
          const pausing = pausingStream(4 * chunkBytes, Math.ceil(chunkBytes * 1.5));
          ({ stream: input, paused: midStream } = pausing);
          letInputFinish = () => pausing.resume();
          stage = await underTest.transform.encode(ctx);
        } else {
          const { encoded, params } = await encodeAll(randomStream(4 * chunkBytes).stream);
          // The first half of a real encoding, then a stall: the decoder is mid-stream when we abort.
          const half = encoded.length >> 1;
          const stalling = stallingStream(encoded.subarray(0, half), encoded.subarray(half));
          ({ stream: input, stalled: midStream } = stalling);
          letInputFinish = () => stalling.release();
          stage = await underTest.transform.decode(ctx, params);
        }
        const running = rejectionOf(pipeline(input, stage, collectInto([])));
        await midStream;
        controller.abort();
        // A stage that ignored the abort now runs to completion and fails below, instead of hanging.
        letInputFinish();
        const error = await running;
        expect(error, `${direction} finished although it was aborted`).toBeDefined();
        expect(isAbortLike(error), `${direction} failed with a non-abort error: ${String(error)}`).toBe(true);
        expect(stage.destroyed).toBe(true);
      });
    }

    it('refuses to start with an already aborted signal', async () => {
      const underTest = await setup();
      const ctx = { ...contextOf(underTest), signal: AbortSignal.abort() };
      const attempt = async () => {
        const encoder = await underTest.transform.encode(ctx);
        await pipeline(Readable.from([Buffer.from('data')]), encoder, collectInto([]));
      };
      await expect(attempt()).rejects.toSatisfy(isAbortLike);
    });
  });
}

function collectInto(chunks: Buffer[]): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk);
      callback();
    },
  });
}

function* splitIntoChunks(data: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}
