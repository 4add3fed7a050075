import { pipeline, type Readable, Transform } from 'node:stream';

/**
 * The body as a stream that fails with `stalled()` once the store sent nothing for `idleMs` while
 * there was room for it. A reader that pauses (a restore building an index) leaves bytes buffered
 * here, so only a store that went silent trips it: a socket timeout cannot tell the two apart.
 */
export function failWhenStalled(body: Readable, idleMs: number, stalled: () => Error): Readable {
  let lastByte = Date.now();
  const watched = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      lastByte = Date.now();
      callback(null, chunk);
    },
  });
  const timer = setInterval(
    () => {
      const starved = watched.readableLength === 0 && watched.writableLength === 0;
      if (starved && Date.now() - lastByte >= idleMs) watched.destroy(stalled());
    },
    Math.min(1000, Math.max(50, idleMs / 4)),
  );
  timer.unref();
  const stop = () => clearInterval(timer);
  watched.once('finish', stop); // the store sent everything: what is left waits for the reader
  watched.once('close', stop);
  // Errors reach the reader through `watched`; destroying `watched` releases the connection.
  pipeline(body, watched, () => undefined);
  return watched;
}
