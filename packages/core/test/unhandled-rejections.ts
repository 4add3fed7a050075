import { afterEach, beforeEach } from 'vitest';

/**
 * The rejections nobody handled during each test of the calling file (emptied before each test), for
 * tests of work core starts without awaiting it at once (a transform's prepare, prepareDecode).
 */
export function collectUnhandledRejections(): unknown[] {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  beforeEach(() => {
    unhandled.length = 0;
    process.on('unhandledRejection', onUnhandled);
  });
  afterEach(() => {
    process.off('unhandledRejection', onUnhandled);
  });
  return unhandled;
}
