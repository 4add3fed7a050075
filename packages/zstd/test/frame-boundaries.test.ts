import { spawnSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, zstdCompressSync } from 'node:zlib';
import { createTestContext } from '@nexus-backup/testkit';
import { zstd } from '@nexus-backup/zstd';
import { describe, expect, it } from 'vitest';

const MiB = 1024 * 1024;

/** Bytes that compress, but not to nothing. */
function sample(bytes: number, seed: number): Buffer {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = 97 + ((i * seed + (i >> 9)) % 23);
  return out;
}

function frame(input: Buffer): Buffer {
  return zstdCompressSync(input, { params: { [constants.ZSTD_c_checksumFlag]: 1 } });
}

/** Restore's decoder, fed the stored bytes in the given pieces. */
async function decodeInPieces(pieces: Buffer[]): Promise<Buffer> {
  const transform = await zstd.create({ level: 2, workers: 1, long: false });
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(pieces),
    await transform.decode(createTestContext(), transform.params()),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        out.push(chunk);
        callback();
      },
    }),
  );
  return Buffer.concat(out);
}

describe('zstd decode across frames', () => {
  // 1 MiB frames (what the encoder writes) and frames of any size (the zstd tool run several times).
  const inputs = [sample(MiB, 7), sample(MiB, 11), sample(300_000, 13), sample(5, 17), sample(MiB / 2, 19)];
  const frames = inputs.map(frame);
  const stored = Buffer.concat(frames);
  const expected = Buffer.concat(inputs);
  const frameEnds = frames.map((_, index) =>
    frames.slice(0, index + 1).reduce((sum, f) => sum + f.length, 0),
  );

  it('decodes every frame wherever a read ends near a frame end (inside its checksum too)', async () => {
    // Node's decoder alone stopped after a frame whose checksum a read boundary had cut.
    for (const end of frameEnds.slice(0, -1)) {
      for (let back = 0; back <= 6; back++) {
        const cut = end - back;
        const decoded = await decodeInPieces([stored.subarray(0, cut), stored.subarray(cut)]);
        expect(decoded.length, `read boundary ${back} bytes before the frame end at ${end}`).toBe(
          expected.length,
        );
        expect(decoded.equals(expected)).toBe(true);
      }
    }
  });

  it('decodes frames of any size read in small pieces, and a skippable frame between them', async () => {
    const skippable = Buffer.alloc(8 + 6);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(6, 4);
    const withSkippable = Buffer.concat([frames[0] as Buffer, skippable, ...frames.slice(1)]);
    const pieces: Buffer[] = [];
    for (let at = 0; at < withSkippable.length; at += 4093)
      pieces.push(withSkippable.subarray(at, at + 4093));
    expect((await decodeInPieces(pieces)).equals(expected)).toBe(true);
  });

  it('reads what the zstd tool wrote in two runs, concatenated', async () => {
    const first = spawnSync('zstd', ['-c', '-3'], { input: inputs[2] }).stdout;
    const second = spawnSync('zstd', ['-c', '-19'], { input: inputs[0] }).stdout;
    const decoded = await decodeInPieces([Buffer.concat([first, second])]);
    expect(decoded.equals(Buffer.concat([inputs[2] as Buffer, inputs[0] as Buffer]))).toBe(true);
  });

  it('refuses bytes after the last frame that are not zstd, naming where they start', async () => {
    await expect(decodeInPieces([stored, Buffer.from('trailing garbage')])).rejects.toThrow(
      /not zstd data after frame 5/,
    );
  });

  it('refuses stored bytes that end inside a frame header or between blocks', async () => {
    await expect(decodeInPieces([stored.subarray(0, 6)])).rejects.toThrow(/zstd data is damaged \(truncated/);
    await expect(decodeInPieces([stored.subarray(0, (frameEnds[0] as number) + 3)])).rejects.toThrow(
      /truncated: the stored bytes end inside frame 2/,
    );
  });
});
