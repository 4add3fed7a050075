import { parentPort, workerData } from 'node:worker_threads';
import { gzipSync } from 'node:zlib';

/** One block in, one complete gzip member out; the parent stitches members together in order. */
export interface CompressRequest {
  id: number;
  block: Uint8Array;
}

export interface CompressReply {
  id: number;
  member?: Uint8Array;
  error?: string;
}

const { level } = workerData as { level: number };

parentPort?.on('message', ({ id, block }: CompressRequest) => {
  let reply: CompressReply;
  try {
    reply = { id, member: ownedBytes(gzipSync(block, { level })) };
  } catch (error) {
    reply = { id, error: (error as Error).message };
  }
  parentPort?.postMessage(reply, reply.member ? [reply.member.buffer as ArrayBuffer] : []);
});

/** A view that owns its whole ArrayBuffer, so transferring it detaches nothing else (e.g. Buffer's pool). */
function ownedBytes(buffer: Buffer): Uint8Array {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return buffer;
  return new Uint8Array(buffer);
}
