/**
 * Dependencies of the operations on the fleet (queues, tasks, agents) shared by the CLI and the API's
 * read routes; `openOps` opens them for a one-shot CLI command and says which store is unreachable.
 */
import type { Redis } from 'ioredis';
import { sql, type Kysely } from 'kysely';
import type { Config } from '../config.js';
import { createDb } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import { createResultsQueue, type ResultsQueue } from '../dispatch/results.js';
import { DispatchScripts } from '../dispatch/scripts.js';
import { TaskQueues } from '../dispatch/task-queues.js';
import { AfmError } from '../errors.js';
import { maskSecret } from '../config.js';
import { connectRedis, createRedis } from '../redis.js';

export interface OpsDeps {
  db: Kysely<Database>;
  redis: Redis;
  scripts: DispatchScripts;
  taskQueues: TaskQueues;
  results: ResultsQueue;
  config: Pick<Config, 'AGENT_ACTIVE_THRESHOLD'>;
}

export interface OpenedOps extends OpsDeps {
  close(): Promise<void>;
}

export async function openOps(config: Config): Promise<OpenedOps> {
  const redis = createRedis(config.REDIS_URL, 'client', 'afm-cli', { reconnect: false });
  redis.on('error', () => undefined);
  const db = createDb(config.DATABASE_URI, { max: 2 });
  const closeAll = async () => {
    await Promise.allSettled([db.destroy(), redis.quit()]);
  };
  try {
    await connectRedis(redis);
  } catch (error) {
    await closeAll();
    throw new AfmError('AFM_ERR_UNAVAILABLE', `cannot reach Redis at ${maskSecret(config.REDIS_URL)}: ${(error as Error).message}`);
  }
  try {
    await sql`select 1`.execute(db);
  } catch (error) {
    await closeAll();
    throw new AfmError('AFM_ERR_UNAVAILABLE', `cannot reach Postgres at ${maskSecret(config.DATABASE_URI)}: ${(error as Error).message}`);
  }
  const taskQueues = new TaskQueues(redis, config.QUEUE_PREFIX);
  const results = createResultsQueue(redis, config.QUEUE_PREFIX);
  return {
    db,
    redis,
    scripts: new DispatchScripts(redis, config.QUEUE_PREFIX),
    taskQueues,
    results,
    config,
    async close() {
      await Promise.allSettled([taskQueues.close(), results.close()]);
      await closeAll();
    },
  };
}
