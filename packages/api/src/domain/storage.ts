import { isStorageUnavailable, unavailable } from '@afm/shared/errors';

/** Runs a storage call, turning "cannot reach Redis/Postgres" into the 503 every client retries. */
export async function guard<T>(what: 'Postgres' | 'Redis', call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (error) {
    throw isStorageUnavailable(error) ? unavailable(what, error) : error;
  }
}
