import { Worker } from 'node:worker_threads';
import { NexusError } from '@nexus-backup/core';
import type { CompressReply, CompressRequest } from './gzip-worker.js';

export interface CompressorPool {
  /** Compresses one block into a standalone gzip member on a worker thread. */
  compress(block: Buffer): Promise<Buffer>;
  /** Stops the workers; pending compressions reject. */
  close(): Promise<void>;
}

interface Pending {
  resolve(member: Buffer): void;
  reject(error: Error): void;
}

/** `size` worker threads compressing at `level`, handed blocks round-robin (blocks are equal-sized). */
export function createCompressorPool(size: number, level: number): CompressorPool {
  const pending = new Map<number, Pending>();
  let nextId = 0;
  let closed = false;

  /** Set when a worker died or the pool closed: every compression from then on fails rather than waits. */
  let broken: Error | undefined;
  const failAll = (error: Error) => {
    broken ??= error;
    for (const task of pending.values()) task.reject(error);
    pending.clear();
  };

  const workers = Array.from({ length: size }, () => {
    const worker = new Worker(new URL('./gzip-worker.js', import.meta.url), { workerData: { level } });
    worker.on('message', ({ id, member, error }: CompressReply) => {
      const task = pending.get(id);
      pending.delete(id);
      if (!task) return;
      if (member) task.resolve(Buffer.from(member.buffer, member.byteOffset, member.byteLength));
      else task.reject(new NexusError('INTERNAL', `gzip worker failed: ${error}`, { provider: 'gzip' }));
    });
    worker.on('error', (error) => {
      failAll(
        new NexusError('INTERNAL', `gzip worker crashed: ${error.message}`, {
          provider: 'gzip',
          cause: error,
        }),
      );
    });
    worker.on('exit', () => {
      if (!closed)
        failAll(new NexusError('INTERNAL', 'a gzip worker exited unexpectedly', { provider: 'gzip' }));
    });
    return worker;
  });

  return {
    compress(block) {
      if (broken) return Promise.reject(broken);
      const id = nextId++;
      const worker = workers[id % workers.length]!;
      return new Promise<Buffer>((resolve, reject) => {
        pending.set(id, { resolve, reject });
        const request: CompressRequest = { id, block: ownedBytes(block) };
        worker.postMessage(request, [request.block.buffer as ArrayBuffer]);
      });
    },
    async close() {
      if (closed) return;
      closed = true;
      failAll(new NexusError('ABORTED', 'the gzip worker pool was closed', { provider: 'gzip' }));
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}

/** Transferring a pooled Buffer's ArrayBuffer would detach unrelated buffers; copy those instead. */
function ownedBytes(buffer: Buffer): Uint8Array {
  if (buffer.byteOffset === 0 && buffer.byteLength === buffer.buffer.byteLength) return buffer;
  return new Uint8Array(buffer);
}
