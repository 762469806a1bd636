/** What the worker's services need, passed in explicitly so tests can run them against real storage. */
import type { RedisClient } from '@afm/shared/redis';
import type { Kysely } from 'kysely';
import type { Config } from '@afm/shared/config';
import { createDb } from '@afm/shared/db/connect';
import type { Database } from '@afm/shared/db/schema';
import { createTaskStore, type TaskStore } from '@afm/shared/db/tasks';
import { Dispatch } from '@afm/shared/dispatch/dispatch';
import { OutageLog } from '@afm/shared/log-throttle';
import type { Logger } from '@afm/shared/logger';
import { connectRedis, createRedis } from '@afm/shared/redis';

export interface WorkerDeps {
  db: Kysely<Database>;
  /** Batched task queries (the results jobs processed at once share one update). */
  tasks: TaskStore;
  /** Everything of a task's life in Redis (the dispatch core); its commands fail fast while Redis is down. */
  dispatch: Dispatch;
  /** Connection for BullMQ workers, which wait for Redis to come back (BullMQ duplicates it as needed). */
  bullConnection: RedisClient;
  config: Pick<
    Config,
    | 'AGENT_ACTIVE_THRESHOLD'
    | 'AGENT_DROP_THRESHOLD'
    | 'CLEANUP_INTERVAL'
    | 'AUTO_CLEANUP'
    | 'RESULT_LIMIT'
    | 'TASK_RETENTION'
    | 'HISTORY_HOURS'
  >;
  logger: Logger;
}

export interface OpenedWorkerDeps extends WorkerDeps {
  close(): Promise<void>;
}

export async function openWorkerDeps(config: Config, logger: Logger): Promise<OpenedWorkerDeps> {
  const redis = createRedis(config, 'client', `afm-worker-${process.pid}`, { autoPipelining: true });
  const bullConnection = createRedis(config, 'worker', `afm-worker-bull-${process.pid}`);
  // Each client reports every reconnection attempt that fails: one outage log for both.
  const redisOutage = new OutageLog(logger, 'Redis');
  for (const client of [redis, bullConnection]) redisOutage.watch(client);
  const postgresOutage = new OutageLog(logger, 'Postgres');
  const db = createDb(config.DATABASE_URI, {
    onError: (error) => postgresOutage.error(error),
    onConnect: () => postgresOutage.recovered(),
  });
  await Promise.all([connectRedis(redis), connectRedis(bullConnection)]).catch((error: unknown) =>
    logger.error({ error: (error as Error).message }, 'redis is not reachable yet'),
  );
  // BullMQ's queues share BullMQ's connection, not the auto-pipelined one.
  const dispatch = new Dispatch({
    commands: redis,
    queues: bullConnection,
    prefix: config.QUEUE_PREFIX,
    agentActiveThreshold: config.AGENT_ACTIVE_THRESHOLD,
  });
  return {
    db,
    tasks: createTaskStore(db),
    dispatch,
    bullConnection,
    config,
    logger,
    async close() {
      await dispatch.close();
      await Promise.allSettled([db.destroy(), redis.quit(), bullConnection.quit()]);
    },
  };
}
