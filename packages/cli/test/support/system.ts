/** A system under test: isolated storage, two API replicas, and direct Postgres access for checks. */
import type { Kysely } from 'kysely';
import { createDb } from '@afm/shared/db/connect';
import type { Database } from '@afm/shared/db/schema';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import type { ApiServer } from '@afm/api/server';
import { startReplica } from './topology.js';

export interface System {
  env: TestEnv;
  db: Kysely<Database>;
  a: ApiServer;
  b: ApiServer;
  /** Tasks of these ids that Postgres shows finished, with their outcome. */
  finished(ids: string[]): Promise<{ id: string; state: string; result: unknown; error: string | null }[]>;
  close(): Promise<void>;
}

export async function startSystem(label: string, overrides: Record<string, string> = {}): Promise<System> {
  const env = await createTestEnv(label, overrides);
  const db = createDb(env.config.DATABASE_URI, { max: 2 });
  const [a, b] = await Promise.all([startReplica(env.config, env.logger), startReplica(env.config, env.logger)]);
  return {
    env,
    db,
    a,
    b,
    async finished(ids) {
      if (ids.length === 0) return [];
      return db
        .selectFrom('tasks')
        .select(['id', 'state', 'result', 'error'])
        .where('id', 'in', ids)
        .where('finished_at', 'is not', null)
        .execute();
    },
    async close() {
      await Promise.allSettled([a.close(), b.close()]);
      await db.destroy();
      await env.cleanup();
    },
  };
}
