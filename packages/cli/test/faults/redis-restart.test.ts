// Issue 8 fault: Redis (append-only file, fsync on every write — the production setting) is killed
// with -9 under load and started again. /readyz says Redis is unreachable meanwhile; the same API and
// worker processes recover on their own; nothing accepted is lost and no task goes out twice, because
// every write AFM acknowledged was on disk (invariants 1–3).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@afm/shared/testing/wait';
import { alive, startFleet, waitReadyz, type Fleet } from './support/fleet.js';
import { startLoad } from './support/load.js';
import { startOwnRedis, type OwnRedis } from './support/own-redis.js';
import { lostAnswersBound, noneWaiting, report, verifyLedger } from './support/verify.js';

const MAX_TASKS = 5;

let redis: OwnRedis;
let fleet: Fleet;
beforeAll(async () => {
  redis = await startOwnRedis();
  // This file runs in its own process: its queues live on the Redis it can kill.
  process.env.AFM_TEST_REDIS_URL = redis.url;
  fleet = await startFleet('fault-redis');
});
afterAll(async () => {
  try {
    await fleet?.close();
  } finally {
    await redis?.close();
  }
});

describe('Redis killed and restarted under load', () => {
  it('recovers without restarting AFM and keeps every accepted task and result exactly once', async () => {
    const load = startLoad({ type: `fault-${randomUUID().slice(0, 6)}`, replicas: fleet.urls, maxTasks: MAX_TASKS });
    await load.progress(300);

    await redis.kill();
    await waitReadyz(
      fleet,
      'Redis unreachable',
      (state) => state.status === 503 && /^unreachable/.test(state.body.redis ?? '') && state.body.workers === null,
    );
    // Down long enough for clients to meet it: they are told to retry.
    await waitFor(() => Object.keys(load.ledger.counts).some((what) => what.endsWith(' 503')), { what: 'a 503 to a client' });
    await redis.start();
    await waitReadyz(fleet, 'ready again, the worker back', (state) => state.status === 200 && state.body.workers === 1);
    expect([...fleet.replicas, fleet.worker].every(alive), 'the same replicas and worker, none restarted').toBe(true);

    await load.progress(300);
    // Tasks accepted while Redis was down (Postgres has them) reach the queues through the reconciler.
    const ledger = await load.stop(noneWaiting(fleet.db));
    // A claim whose reply Redis never sent (killed right after the script ran) is a lost hand-out.
    const figures = await verifyLedger(fleet.db, fleet.env.config, ledger, lostAnswersBound(ledger, MAX_TASKS), 90_000);
    report('Redis kill -9 and restart:', figures);
  });
});
