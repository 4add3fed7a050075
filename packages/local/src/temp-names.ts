import { randomBytes } from 'node:crypto';

/**
 * Temp files live next to their final name, so the rename into place stays on one filesystem and is
 * atomic. The leading dot and `.tmp-` suffix keep them apart from every key a put accepts.
 */
const TEMP_NAME = /^\..+\.tmp-[0-9a-f]{12}$/;

export function tempNameFor(fileName: string): string {
  return `.${fileName}.tmp-${randomBytes(6).toString('hex')}`;
}

export function isTempName(fileName: string): boolean {
  return TEMP_NAME.test(fileName);
}
