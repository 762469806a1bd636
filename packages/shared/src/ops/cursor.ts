/** Opaque keyset cursors for lists ordered by (time, id), newest first. */
import { AfmError } from '../errors.js';

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last one. */
  next_cursor: string | null;
}

export const encodeCursor = (at: Date, id: string): string => Buffer.from(JSON.stringify([at.getTime(), id])).toString('base64url');

export function decodeCursor(cursor: string): { at: Date; id: string } {
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [unknown, unknown];
    if (typeof ms !== 'number' || typeof id !== 'string' || !/^[0-9a-f-]{36}$/i.test(id)) throw new Error('shape');
    return { at: new Date(ms), id };
  } catch {
    throw new AfmError('AFM_ERR_VALIDATION', 'cursor: not a cursor returned by this API');
  }
}
