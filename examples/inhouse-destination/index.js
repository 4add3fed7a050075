// An in-house destination in one file, loaded with `--plugin ./index.js` and reached by its own URL
// scheme: `--to "azure://ACCOUNT/CONTAINER?root=/srv/blobs"`. It keeps blobs in a local folder laid
// out like a storage account (ROOT/ACCOUNT/CONTAINER/KEY), so the example runs without a cloud; a real
// one would call the store's SDK in the same five methods.
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { defineDestination, NexusError } from '@nexus-backup/core';

export const azureFolder = defineDestination({
  name: 'azure',
  description: 'blobs of a storage account container, kept in a local folder (example)',
  schemes: ['azure'],
  options: {
    account: { type: 'string', required: true, description: 'the storage account' },
    container: { type: 'string', required: true, description: 'the container' },
    root: { type: 'string', required: true, description: 'the folder that holds the accounts' },
  },
  fromUrl(url) {
    const container = url.pathname.replace(/^\/+|\/+$/g, '');
    const root = url.searchParams.get('root');
    if (container === '' || container.includes('/') || !root) {
      throw new NexusError(
        'USAGE',
        `${url.protocol}//${url.host}${url.pathname} names no container and root`,
        {
          provider: 'azure',
          hint: 'use azure://ACCOUNT/CONTAINER?root=/path/to/folder',
        },
      );
    }
    return { account: url.hostname, container, root };
  },
  create({ account, container, root }) {
    const base = join(root, account, container);
    const file = (key) => join(base, ...key.split('/'));
    return {
      async put(key, body) {
        const target = file(key);
        const temp = `${target}.uploading`;
        await mkdir(dirname(target), { recursive: true });
        try {
          await pipeline(body, createWriteStream(temp, { mode: 0o600 }));
          await rename(temp, target); // readers never see a half-written blob
        } catch (error) {
          await rm(temp, { force: true });
          throw error;
        }
        return { bytes: (await stat(target)).size };
      },
      async get(key) {
        return createReadStream(file(key));
      },
      async *list(prefix) {
        const entries = await readdir(base, { recursive: true, withFileTypes: true }).catch(() => []);
        for (const entry of entries) {
          if (!entry.isFile() || entry.name.endsWith('.uploading')) continue;
          const key = relative(base, join(entry.parentPath, entry.name)).split('\\').join('/');
          if (!key.startsWith(prefix)) continue;
          const info = await stat(join(entry.parentPath, entry.name));
          yield { key, bytes: info.size, modified: info.mtime };
        }
      },
      async delete(keys) {
        for (const key of keys) await rm(file(key), { force: true });
      },
    };
  },
});
