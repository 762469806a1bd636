/**
 * Redis connections, in the mode configuration names (README, Configuration): one server, a Sentinel
 * group (the client follows the master the sentinels name, across failovers), or a Cluster (every key
 * of a deployment under one hash tag, so one slot and one node: see config.ts). Each process opens few:
 * one for requests and scripts, BullMQ's queues and workers their own.
 */
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import { redisMode, type RedisTarget } from './config.js';

/** A connection in any mode: what the dispatch core and BullMQ are given. */
export type RedisClient = Redis | Cluster;

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

/** A target given as a bare URL (tests, tools) is the single-server mode. */
const asTarget = (target: string | RedisTarget): RedisTarget => (typeof target === 'string' ? { REDIS_URL: target } : target);

export function createRedis(
  target: string | RedisTarget,
  role: RedisRole,
  name?: string,
  { reconnect = true, autoPipelining = false }: RedisOptionsAfm = {},
): RedisClient {
  const config = asTarget(target);
  const retry = reconnect ? (attempt: number) => Math.min(attempt * 100, 2_000) : () => null;
  const perRole: RedisOptions =
    role === 'client'
      ? { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 5_000 }
      : { maxRetriesPerRequest: null, enableReadyCheck: true };
  const common: RedisOptions = { lazyConnect: true, connectionName: name, ...perRole };
  switch (redisMode(config)) {
    case 'cluster': {
      const options: ClusterOptions = {
        lazyConnect: true,
        clusterRetryStrategy: retry,
        enableAutoPipelining: autoPipelining,
        enableOfflineQueue: perRole.enableOfflineQueue ?? true,
        enableReadyCheck: true,
        // Refresh the slot map soon after a failover instead of following MOVED one command at a time.
        slotsRefreshTimeout: 2_000,
        retryDelayOnFailover: 200,
        retryDelayOnClusterDown: 200,
        redisOptions: {
          ...common,
          ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}),
        },
      };
      return new Cluster(config.REDIS_CLUSTER_NODES!, options);
    }
    case 'sentinel':
      return new Redis({
        ...common,
        retryStrategy: retry,
        sentinelRetryStrategy: reconnect ? (attempt: number) => Math.min(attempt * 100, 1_000) : () => null,
        enableAutoPipelining: autoPipelining,
        sentinels: config.REDIS_SENTINELS!,
        name: config.REDIS_SENTINEL_NAME!,
        ...(config.REDIS_SENTINEL_PASSWORD ? { sentinelPassword: config.REDIS_SENTINEL_PASSWORD } : {}),
        ...(config.REDIS_PASSWORD ? { password: config.REDIS_PASSWORD } : {}),
        // Learn of a promotion from the sentinels' +switch-master at once, not at the next error.
        failoverDetector: true,
      });
    default:
      return new Redis(config.REDIS_URL, { ...common, retryStrategy: retry, enableAutoPipelining: autoPipelining });
  }
}

/** Connects a lazily created client; resolves once it is ready for commands. */
export async function connectRedis(redis: RedisClient): Promise<void> {
  if (redis.status === 'wait') await redis.connect();
  else if (redis.status !== 'ready') {
    await new Promise<void>((resolve, reject) => {
      redis.once('ready', resolve);
      redis.once('end', () => reject(new Error('Redis connection ended')));
    });
  }
}

/** The primaries a command for every key of the deployment must reach: SCAN runs on each. */
export const primaries = (redis: RedisClient): Redis[] => (redis instanceof Cluster ? redis.nodes('master') : [redis]);

/**
 * The connection to the primary serving `key`: where WAIT must go, since it counts the writes of the
 * connection it is sent on (in a cluster, the node connection the writes to that slot went through).
 */
export function primaryFor(redis: RedisClient, slot: number): Redis | undefined {
  if (!(redis instanceof Cluster)) return redis;
  const owner = redis.slots[slot]?.[0];
  return redis.nodes('master').find((node) => `${node.options.host}:${node.options.port}` === owner);
}

/** The cluster slot of a key: CRC16 (XMODEM) of its hash tag, or of the whole key without one. */
export function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open >= 0 ? key.indexOf('}', open + 1) : -1;
  const hashed = Buffer.from(close > open + 1 ? key.slice(open + 1, close) : key);
  let crc = 0;
  for (const byte of hashed) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16_384;
}
