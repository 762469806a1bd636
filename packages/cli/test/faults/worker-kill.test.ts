// Issue 8 fault: kill -9 the worker while it writes a batch of results. Results keep being accepted
// and wait in Redis; /readyz reports no worker; a new worker takes over the dead one's jobs once their
// locks expire, and every accepted result is in Postgres exactly once (invariants 1, 3, 4).
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createResultsQueue } from '@afm/shared/dispatch/results';
import { connectRedis, createRedis } from '@afm/shared/redis';
import { waitFor } from '@afm/shared/testing/wait';
import { startFleet, waitReadyz, type Fleet } from './support/fleet.js';
import { startLoad } from './support/load.js';
import { noneWaiting, report, verifyLedger } from './support/verify.js';

class Rollback extends Error {}

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet('fault-worker');
});
afterAll(() => fleet?.close());

describe('kill -9 of the worker mid-batch', () => {
  it('keeps accepting results, reports the missing worker, and writes every result once after a new worker starts', async () => {
    const redis = createRedis(fleet.env.config, 'client');
    await connectRedis(redis);
    const results = createResultsQueue(redis, fleet.env.config.QUEUE_PREFIX);
    try {
      const load = startLoad({ type: `fault-${randomUUID().slice(0, 6)}`, replicas: fleet.urls });
      await load.progress(300);
      // Mid-batch, for certain: rows of this test's unfinished tasks stay locked, so the worker's next
      // batch of results for them hangs in Postgres; it is killed there, then the lock goes.
      await fleet.db
        .transaction()
        .execute(async (trx) => {
          await sql`select id from tasks where finished_at is null for update`.execute(trx);
          // An active job alone may finish before the kill (a result for a task posted after the lock,
          // as CI once saw); the worker's results write waiting on this lock is held up for certain.
          await waitFor(
            async () => {
              const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock' and query like '%stored_at = now()%'`.execute(trx);
              return rows[0]!.n > 0 && (await results.getActiveCount()) > 0;
            },
            { what: 'a results batch waiting on the locked rows' },
          );
          expect(await fleet.worker.kill('SIGKILL')).toBe('SIGKILL');
          throw new Rollback();
        })
        .catch((error: unknown) => {
          if (!(error instanceof Rollback)) throw error;
        });
      expect(await results.getActiveCount(), 'jobs the dead worker left unfinished').toBeGreaterThan(0);

      await load.progress(300);
      await waitReadyz(fleet, 'no worker', (state) => state.status === 200 && state.body.workers === 0);
      const piled = await results.getJobCounts('waiting', 'active');
      expect((piled.waiting ?? 0) + (piled.active ?? 0), 'results waiting for a worker').toBeGreaterThan(0);

      fleet.startWorker();
      await waitReadyz(fleet, 'a worker again', (state) => state.body.workers === 1);
      await load.progress(300);
      // No connection to a replica died: every hand-out reached its agent.
      const figures = await verifyLedger(fleet.db, fleet.env.config, await load.stop(noneWaiting(fleet.db)), 0);
      report('worker kill -9:', { ...figures, waitingForWorker: piled });
    } finally {
      await results.close();
      await redis.quit();
    }
  });
});
