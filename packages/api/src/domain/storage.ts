import { AfmError, isDataRejected, isStorageUnavailable, unavailable } from '@afm/shared/errors';

/**
 * Runs a storage call, turning "cannot reach Redis/Postgres" into the 503 every client retries, and a
 * value Postgres refuses (which validation should already have caught) into a 400.
 */
export async function guard<T>(what: 'Postgres' | 'Redis', call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (isStorageUnavailable(error)) throw unavailable(what, error);
    if (isDataRejected(error))
      throw new AfmError('AFM_ERR_VALIDATION', `Postgres refused a value: ${(error as Error).message}`, { cause: error });
    throw error;
  }
}
