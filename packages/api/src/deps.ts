/**
 * What the API's domain functions need, passed in explicitly so tests can run them against real
 * Redis and Postgres without HTTP. `openApiDeps` builds them from configuration; `close` releases them.
 */
import type { Kysely } from 'kysely';
import { Tokens } from '@afm/shared/auth';
import type { Config } from '@afm/shared/config';
import { createDb } from '@afm/shared/db/connect';
import type { Database } from '@afm/shared/db/schema';
import { createTaskStore, type TaskStore } from '@afm/shared/db/tasks';
import { Dispatch } from '@afm/shared/dispatch/dispatch';
import { LatencyRecorder } from '@afm/shared/history/latency';
import { OutageLog } from '@afm/shared/log-throttle';
import type { Logger } from '@afm/shared/logger';
import { connectRedis, createRedis } from '@afm/shared/redis';
import { ApiMetrics } from './metrics.js';
import { Notifications } from './notifications.js';

export interface ApiDeps {
  db: Kysely<Database>;
  /** Batched task queries (concurrent POST /task of this replica share one insert, GET /task one select). */
  tasks: TaskStore;
  /** Everything of a task's life in Redis (the dispatch core). */
  dispatch: Dispatch;
  config: Pick<
    Config,
    | 'AGENT_RETURN_TIME'
    | 'AGENT_ACTIVE_THRESHOLD'
    | 'BODY_LIMIT'
    | 'JSON_DEPTH_LIMIT'
    | 'TASK_DATA_LIMIT'
    | 'RESULT_LIMIT'
    | 'MAX_TASKS_PER_POLL'
    | 'POLL_RATE_LIMIT'
    | 'HISTORY_HOURS'
  >;
  /** Bearer tokens by role; authentication is off while there are none. */
  tokens: Tokens;
  logger: Logger;
  metrics: ApiMetrics;
  /** This replica's request durations per 10-s slot, added to Redis every few seconds (GET /api/history). */
  latency: LatencyRecorder;
  /** Long polls of this replica. */
  notifications: Notifications;
  /** Bytes of request bodies handled at once (default: from the heap limit, see http/budget.ts). */
  bodyBudget?: number;
  /** Milliseconds a request body may take to arrive (default 30 s, http/body.ts). */
  bodyReadMs?: number;
}

export interface OpenedApiDeps extends ApiDeps {
  close(): Promise<void>;
}

export async function openApiDeps(config: Config, logger: Logger): Promise<OpenedApiDeps> {
  // Read first: a bad token file stops the start with a usage error, before any connection opens.
  const tokens = Tokens.fromConfig(config);
  // Two connections: AFM's scripts and commands, auto-pipelined; BullMQ's queues on their own.
  const redis = createRedis(config, 'client', `afm-api-${process.pid}`, { autoPipelining: true });
  const queueRedis = createRedis(config, 'client', `afm-api-queues-${process.pid}`);
  // A connection in subscriber mode serves nothing else: the long polls' wake-ups arrive on it.
  const subscriber = createRedis(config, 'worker', `afm-api-events-${process.pid}`);
  // REDIS_ACK_REPLICAS' WAITs block the connection they are sent on: one of their own.
  const acks = config.REDIS_ACK_REPLICAS > 0 ? createRedis(config, 'client', `afm-api-acks-${process.pid}`) : undefined;
  const clients = [redis, queueRedis, subscriber, ...(acks ? [acks] : [])];
  // Every client reports each reconnection attempt that fails: one outage log for them all.
  const redisOutage = new OutageLog(logger, 'Redis');
  for (const client of clients) redisOutage.watch(client);
  const postgresOutage = new OutageLog(logger, 'Postgres');
  const db = createDb(config.DATABASE_URI, {
    onError: (error) => postgresOutage.error(error),
    onConnect: () => postgresOutage.recovered(),
  });
  // Start even when Redis is down: requests answer 503 until it returns and ioredis reconnects (the
  // outage log has the error and its stack).
  await Promise.all(clients.map(connectRedis)).catch((error: unknown) =>
    logger.error({ error: (error as Error).message }, 'redis is not reachable yet'),
  );
  const dispatch = new Dispatch({
    commands: redis,
    queues: queueRedis,
    prefix: config.QUEUE_PREFIX,
    agentActiveThreshold: config.AGENT_ACTIVE_THRESHOLD,
    ackReplicas: config.REDIS_ACK_REPLICAS,
    ackTimeout: config.REDIS_ACK_TIMEOUT,
    ...(acks ? { acks } : {}),
  });
  const notifications = new Notifications(dispatch, subscriber);
  const latency = new LatencyRecorder(redis, dispatch.keys, {
    windowMs: config.HISTORY_HOURS * 3_600_000,
    onError: (error) => logger.debug({ err: error }, 'latency history not flushed; kept for the next flush'),
  });
  // Subscribing waits for Redis (ioredis resubscribes after reconnects by itself).
  void notifications.start().catch((error: unknown) => logger.error({ err: error }, 'cannot subscribe to wake-ups'));
  return {
    db,
    tasks: createTaskStore(db),
    dispatch,
    notifications,
    config,
    tokens,
    logger,
    metrics: new ApiMetrics(),
    latency,
    async close() {
      notifications.close();
      await latency.close();
      await dispatch.close();
      await Promise.allSettled([db.destroy(), ...clients.map((client) => client.quit())]);
    },
  };
}
