/** Redis connections. Each process opens few: one for requests and scripts, BullMQ workers their own. */
import { Redis, type RedisOptions } from 'ioredis';

export type RedisRole =
  /** API replicas and CLI: commands fail at once while Redis is down, so requests can answer 503. */
  | 'client'
  /** BullMQ workers: commands wait for the reconnection instead (BullMQ requires this). */
  | 'worker';

export interface RedisOptionsAfm {
  /** Services reconnect forever; one-shot commands give up at once. */
  reconnect?: boolean;
  /**
   * Send the commands issued in one tick in one write (many concurrent requests, few syscalls). Not for
   * a connection that BullMQ queues share: their scripts are defined lazily, and an auto-pipeline
   * created before that would not know them.
   */
  autoPipelining?: boolean;
}

export function createRedis(
  url: string,
  role: RedisRole,
  name?: string,
  { reconnect = true, autoPipelining = false }: RedisOptionsAfm = {},
): Redis {
  const options: RedisOptions = {
    lazyConnect: true,
    connectionName: name,
    retryStrategy: reconnect ? (attempt) => Math.min(attempt * 100, 2_000) : () => null,
    enableAutoPipelining: autoPipelining,
    ...(role === 'client'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5_000 }
      : { maxRetriesPerRequest: null, enableReadyCheck: true }),
  };
  return new Redis(url, options);
}

/** Connects a lazily created client; resolves once it is ready for commands. */
export async function connectRedis(redis: Redis): Promise<void> {
  if (redis.status === 'wait') await redis.connect();
  else if (redis.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', resolve);
      redis.once('end', () => reject(new Error('Redis connection ended')));
    });
  }
}
