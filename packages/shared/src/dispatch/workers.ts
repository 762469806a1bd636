/**
 * Worker processes announce themselves in Redis. A dead worker is otherwise invisible — results just
 * wait in their queue — so replicas report how many workers beat recently (`/readyz`, `afm_workers`).
 */
import type { RedisClient } from '../redis.js';
import type { DispatchKeys } from './keys.js';

export const WORKER_BEAT_MS = 2_000;
/** A worker silent for this long is counted as gone (several missed beats, not one slow one). */
export const WORKER_STALE_MS = 10_000;
/** Entries of workers gone this long are removed by the next beat of any worker. */
const FORGET_MS = 3_600_000;

export async function workerBeat(
  redis: RedisClient,
  keys: Pick<DispatchKeys, 'workers'>,
  workerId: string,
  now = Date.now(),
): Promise<void> {
  await redis
    .multi()
    .zadd(keys.workers, now, workerId)
    .zremrangebyscore(keys.workers, '-inf', now - FORGET_MS)
    .exec();
}

export async function workerRetired(redis: RedisClient, keys: Pick<DispatchKeys, 'workers'>, workerId: string): Promise<void> {
  await redis.zrem(keys.workers, workerId);
}

export async function liveWorkers(redis: RedisClient, keys: Pick<DispatchKeys, 'workers'>, now = Date.now()): Promise<number> {
  return redis.zcount(keys.workers, now - WORKER_STALE_MS, '+inf');
}
