import { Transform, type TransformCallback } from 'node:stream';
import { NexusError } from '@nexus-backup/core';

const ZSTD_MAGIC = 0xfd2fb528;
/** Skippable frames carry their own length: 0x184D2A50 to 0x184D2A5F. */
const SKIPPABLE_MAGIC_MASK = 0xfffffff0;
const SKIPPABLE_MAGIC = 0x184d2a50;
const BLOCK_HEADER_BYTES = 3;
const CHECKSUM_BYTES = 4;
const RLE_BLOCK = 1;
const RESERVED_BLOCK = 3;

type Field = 'magic' | 'descriptor' | 'header-rest' | 'block-header' | 'skippable-size';
type State =
  | { kind: 'collect'; field: Field; bytes: number; hasChecksum: boolean }
  | { kind: 'skip'; next: 'block-header' | 'frame-end'; hasChecksum: boolean };

const AT_FRAME_START: State = { kind: 'collect', field: 'magic', bytes: 4, hasChecksum: false };

/**
 * Cuts the stored bytes so that no chunk runs past the end of a zstd frame. Node's zstd decoder
 * ends its output when a frame ends with input left over in the same write, unless the frame's
 * output happened to fill its buffer exactly, and so, depending on where a read's boundary fell
 * (inside the last four bytes of a frame, its checksum), it stopped after the first frame of an
 * artifact of several (ours with `workers`, or files compressed by the `zstd` tool in several runs).
 * Fed a frame at a time, one decoder goes on from frame to frame, as `zstd -d` does.
 * Reads only frame and block headers; anything that is not a frame is an error here, and damage
 * inside a frame is left for the decoder and its checksum to find.
 */
export function splitAtFrameEnds(): Transform {
  let state: State = AT_FRAME_START;
  /** Header bytes collected across chunk boundaries (at most a frame header's 14). */
  const header = Buffer.alloc(16);
  let collected = 0;
  let skip = 0;
  let frames = 0;

  /** Advances over `chunk` from `from`; returns where the current frame ends in it, or -1. */
  const advance = (chunk: Buffer, from: number): number => {
    let at = from;
    for (;;) {
      if (state.kind === 'skip') {
        const taken = Math.min(skip, chunk.length - at);
        skip -= taken;
        at += taken;
        if (skip > 0) return -1;
        if (state.next === 'frame-end') {
          state = AT_FRAME_START;
          frames++;
          return at;
        }
        state = {
          kind: 'collect',
          field: 'block-header',
          bytes: BLOCK_HEADER_BYTES,
          hasChecksum: state.hasChecksum,
        };
        continue;
      }
      if (at >= chunk.length) return -1;
      const taken = Math.min(state.bytes - collected, chunk.length - at);
      chunk.copy(header, collected, at, at + taken);
      collected += taken;
      at += taken;
      if (collected < state.bytes) return -1;
      collected = 0;
      state = afterField(state);
    }
  };

  /** What follows a field once its bytes are in `header` (RFC 8878, 3.1). */
  const afterField = (field: Extract<State, { kind: 'collect' }>): State => {
    const { hasChecksum } = field;
    switch (field.field) {
      case 'magic': {
        const magic = header.readUInt32LE(0);
        if (magic === ZSTD_MAGIC) return { kind: 'collect', field: 'descriptor', bytes: 1, hasChecksum };
        if ((magic & SKIPPABLE_MAGIC_MASK) >>> 0 === SKIPPABLE_MAGIC) {
          return { kind: 'collect', field: 'skippable-size', bytes: 4, hasChecksum };
        }
        throw damaged(
          frames === 0
            ? 'not zstd data: the stored bytes do not start with a zstd frame'
            : `not zstd data after frame ${frames}: the stored bytes go on with something else`,
        );
      }
      case 'descriptor': {
        const descriptor = header[0] as number;
        const singleSegment = (descriptor >> 5) & 1;
        const rest =
          (singleSegment ? 0 : 1) +
          ([0, 1, 2, 4][descriptor & 3] as number) +
          ([singleSegment, 2, 4, 8][descriptor >> 6] as number);
        const withChecksum = ((descriptor >> 2) & 1) === 1;
        return rest === 0
          ? { kind: 'collect', field: 'block-header', bytes: BLOCK_HEADER_BYTES, hasChecksum: withChecksum }
          : { kind: 'collect', field: 'header-rest', bytes: rest, hasChecksum: withChecksum };
      }
      case 'header-rest':
        return { kind: 'collect', field: 'block-header', bytes: BLOCK_HEADER_BYTES, hasChecksum };
      case 'block-header': {
        const value = header.readUIntLE(0, BLOCK_HEADER_BYTES);
        const type = (value >> 1) & 3;
        if (type === RESERVED_BLOCK) {
          throw damaged(`a block of the reserved type in frame ${frames + 1}`);
        }
        skip = type === RLE_BLOCK ? 1 : value >>> 3;
        if ((value & 1) === 0) return { kind: 'skip', next: 'block-header', hasChecksum };
        if (hasChecksum) skip += CHECKSUM_BYTES;
        return { kind: 'skip', next: 'frame-end', hasChecksum };
      }
      case 'skippable-size':
        skip = header.readUInt32LE(0);
        return { kind: 'skip', next: 'frame-end', hasChecksum };
    }
  };

  return new Transform({
    transform(chunk: Buffer, _encoding, callback: TransformCallback) {
      try {
        let start = 0;
        for (let end = advance(chunk, 0); end !== -1; end = advance(chunk, end)) {
          this.push(chunk.subarray(start, end));
          start = end;
        }
        if (start < chunk.length) this.push(chunk.subarray(start));
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
    flush(callback: TransformCallback) {
      if (state !== AT_FRAME_START || collected > 0) {
        callback(damaged(`truncated: the stored bytes end inside frame ${frames + 1}`));
        return;
      }
      callback();
    },
  });
}

/** The same integrity error restore makes of the decoder's own (`zstd data is damaged (...)`). */
function damaged(problem: string): NexusError {
  return new NexusError('INTEGRITY', `zstd data is damaged (${problem})`, {
    provider: 'zstd',
    hint: 'restore an older backup or another copy (`nexus-backup list`); `nexus-backup verify` names the damaged ones',
  });
}
