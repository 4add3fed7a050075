import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { type Destination, NexusError, type StoredObject } from '../src/index.js';

/**
 * A Destination kept in a Map, for testing the engine itself (fan-out, manifests, restore checks);
 * real destinations are tested against real services in their own packages.
 */
export function memoryDestination(
  options: { failPuts?: RegExp } = {},
): Destination & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  return {
    location: 'memory://test',
    objects,
    async put(key, body) {
      if (options.failPuts?.test(key)) {
        body.destroy();
        throw new NexusError('IO', `memory destination refuses ${key}`);
      }
      // Real destinations open a file or a connection before they read the body.
      if (options.delayBeforeRead)
        await new Promise((resolve) => setTimeout(resolve, options.delayBeforeRead));
      const data = await buffer(body);
      objects.set(key, data);
      return { bytes: data.length };
    },
    async get(key) {
      const data = objects.get(key);
      if (!data) throw new NexusError('NOT_FOUND', `no object ${key}`);
      return Readable.from([data]);
    },
    async *list(prefix): AsyncIterable<StoredObject> {
      for (const [key, data] of objects)
        if (key.startsWith(prefix)) yield { key, bytes: data.length, modified: new Date() };
    },
    async delete(keys) {
      for (const key of keys) objects.delete(key);
    },
  };
}
