/** AUTO_CREATE: make sure the database exists and its schema is current, waiting for Postgres to start. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '@afm/shared/config';
import { createDb, ensureDatabase, postgresError } from '@afm/shared/db/connect';
import { migrateToLatest } from '@afm/shared/db/migrate';
import { isStorageUnavailable } from '@afm/shared/errors';
import type { Logger } from '@afm/shared/logger';

export async function prepareDatabase(config: Config, logger: Logger, waitMs = 30_000): Promise<string[]> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; ; attempt++) {
    try {
      if (await ensureDatabase(config.DATABASE_URI)) logger.info('database created');
      const db = createDb(config.DATABASE_URI, { max: 1 });
      try {
        const done = await migrateToLatest(db);
        for (const line of done) logger.info(line);
        return done;
      } finally {
        await db.destroy();
      }
    } catch (error) {
      if (!isStorageUnavailable(error) || Date.now() > deadline) throw postgresError(config.DATABASE_URI, error);
      if (attempt === 0) logger.warn({ err: error }, 'postgres not reachable yet; waiting');
      await sleep(1_000);
    }
  }
}
