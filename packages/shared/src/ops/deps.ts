/**
 * Dependencies of the operations on the fleet (queues, tasks, agents) shared by the CLI and the API's
 * read routes; `openOps` opens them for a one-shot CLI command and says which store is unreachable.
 */
import type { Kysely } from 'kysely';
import type { Config } from '../config.js';
import { createDb, ping } from '../db/connect.js';
import type { Database } from '../db/schema.js';
import { Dispatch } from '../dispatch/dispatch.js';
import { AfmError } from '../errors.js';
import { describeRedis, maskSecret } from '../config.js';
import { connectRedis, createRedis } from '../redis.js';

export interface OpsDeps {
  db: Kysely<Database>;
  dispatch: Dispatch;
  config: Pick<Config, 'AGENT_ACTIVE_THRESHOLD'>;
}

export interface OpenedOps extends OpsDeps {
  close(): Promise<void>;
}

export interface OpenOpsOptions {
  /**
   * `required` (the default): fail at once when Postgres cannot be reached. `optional`: for commands
   * that need Redis alone or can do without Postgres (the queue commands) — no ping; the pool
   * connects at a first query, if one is made.
   */
  postgres?: 'required' | 'optional';
}

export async function openOps(config: Config, { postgres = 'required' }: OpenOpsOptions = {}): Promise<OpenedOps> {
  const redis = createRedis(config, 'client', 'afm-cli', { reconnect: false });
  redis.on('error', () => undefined);
  const db = createDb(config.DATABASE_URI, { max: 2 });
  const closeAll = async () => {
    await Promise.allSettled([db.destroy(), redis.quit()]);
  };
  try {
    await connectRedis(redis);
  } catch (error) {
    await closeAll();
    throw new AfmError('AFM_ERR_UNAVAILABLE', `cannot reach Redis, ${describeRedis(config)}: ${(error as Error).message}`);
  }
  if (postgres === 'required') {
    try {
      await ping(db);
    } catch (error) {
      await closeAll();
      throw new AfmError('AFM_ERR_UNAVAILABLE', `cannot reach Postgres at ${maskSecret(config.DATABASE_URI)}: ${(error as Error).message}`);
    }
  }
  const dispatch = new Dispatch({
    commands: redis,
    queues: redis,
    prefix: config.QUEUE_PREFIX,
    agentActiveThreshold: config.AGENT_ACTIVE_THRESHOLD,
  });
  return {
    db,
    dispatch,
    config,
    async close() {
      await dispatch.close();
      await closeAll();
    },
  };
}
