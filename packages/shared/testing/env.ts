/**
 * Isolated storage for one test file: its own Postgres database and its own Redis key prefix, both
 * removed by `cleanup()`, so test runs never see each other's data. Point the tests at other servers
 * with AFM_TEST_DATABASE_URL (an admin connection) and AFM_TEST_REDIS_URL.
 */
import { randomBytes } from 'node:crypto';
import { pino } from 'pino';
import pg from 'pg';
import { loadConfig, type Config } from '../src/config.js';
import { createDb } from '../src/db/connect.js';
import { migrateToLatest } from '../src/db/migrate.js';
import type { Logger } from '../src/logger.js';
import { deleteDeployment } from '../src/dispatch/dispatch.js';
import { createRedis } from '../src/redis.js';

export interface TestEnv {
  id: string;
  config: Config;
  logger: Logger;
  cleanup(): Promise<void>;
}

const adminUrl = () => process.env.AFM_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const redisUrl = () => process.env.AFM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';

async function admin<T>(run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: adminUrl() });
  await client.connect();
  try {
    return await run(client);
  } finally {
    await client.end();
  }
}

export async function createTestEnv(label: string, overrides: Record<string, string> = {}): Promise<TestEnv> {
  const id = `${label
    .replace(/[^a-z0-9]/gi, '')
    .toLowerCase()
    .slice(0, 20)}_${randomBytes(4).toString('hex')}`;
  const database = `afm_test_${id}`;
  await admin((client) => client.query(`create database ${pg.escapeIdentifier(database)}`));
  const dbUrl = new URL(adminUrl());
  dbUrl.pathname = `/${database}`;
  const { config } = loadConfig({
    env: {
      DATABASE_URI: dbUrl.toString(),
      // A test on a Sentinel group or a Cluster names it in its overrides instead.
      ...(overrides.REDIS_SENTINELS || overrides.REDIS_CLUSTER_NODES ? {} : { REDIS_URL: redisUrl() }),
      QUEUE_PREFIX: `test-${id}`,
      LOG_LEVEL: process.env.AFM_TEST_LOG_LEVEL ?? 'silent',
      ...overrides,
    },
  });
  const db = createDb(config.DATABASE_URI, { max: 1 });
  try {
    await migrateToLatest(db);
  } finally {
    await db.destroy();
  }
  const logger = pino({ level: config.LOG_LEVEL, base: { test: id } });
  return {
    id,
    config,
    logger,
    async cleanup() {
      await admin((client) => client.query(`drop database if exists ${pg.escapeIdentifier(database)} with (force)`));
      const redis = createRedis(config, 'worker');
      try {
        await deleteDeployment(redis, config.QUEUE_PREFIX);
      } finally {
        await redis.quit();
      }
    },
  };
}
