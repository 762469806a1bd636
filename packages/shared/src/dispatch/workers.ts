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

/**
 * A worker's id starts with its host name, so a container's healthcheck can tell its own worker from
 * the deployment's others (`slamon-afm worker --check`); the pid and a nonce tell processes apart.
 */
export const newWorkerId = (host: string, pid: number, nonce: string): string => `${host}:${pid}:${nonce}`;

/** The host name in a worker's id (host names hold no colon). */
export const workerHost = (workerId: string): string => workerId.split(':').slice(0, -2).join(':');

export interface LiveWorker {
  id: string;
  /** Its last heartbeat (ms). */
  lastBeat: number;
}

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

export async function knownWorkers(redis: RedisClient, keys: Pick<DispatchKeys, 'workers'>): Promise<LiveWorker[]> {
  const flat = await redis.zrevrange(keys.workers, 0, -1, 'WITHSCORES');
  const workers: LiveWorker[] = [];
  for (let i = 0; i < flat.length; i += 2) workers.push({ id: flat[i]!, lastBeat: Number(flat[i + 1]) });
  return workers;
}

/** The workers that beat within WORKER_STALE_MS, the latest first. */
export async function liveWorkerList(redis: RedisClient, keys: Pick<DispatchKeys, 'workers'>, now = Date.now()): Promise<LiveWorker[]> {
  return (await knownWorkers(redis, keys)).filter((worker) => worker.lastBeat >= now - WORKER_STALE_MS);
}
