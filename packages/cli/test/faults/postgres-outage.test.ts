// Issue 8 fault: Postgres stops for 10 s under load (a cluster this test owns, stopped with
// `pg_ctl -m immediate`). Agents keep polling and their results keep being accepted; /readyz says
// Postgres is unreachable; when it returns the same processes recover and every accepted result is
// written (invariant 4).
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, startFleet, waitReadyz, type Fleet } from './support/fleet.js';
import { startLoad } from './support/load.js';
import { startOwnPostgres, type OwnPostgres } from './support/own-postgres.js';
import { noneWaiting, report, verifyLedger } from './support/verify.js';

const OUTAGE_MS = 10_000;

let postgres: OwnPostgres;
let fleet: Fleet;
beforeAll(async () => {
  postgres = await startOwnPostgres();
  // This file runs in its own process: its test databases live on the cluster it can stop.
  process.env.AFM_TEST_DATABASE_URL = postgres.url;
  fleet = await startFleet('fault-postgres');
});
afterAll(async () => {
  try {
    await fleet?.close();
  } finally {
    await postgres?.close();
  }
});

describe('Postgres stopped for 10 s under load', () => {
  it('accepts results throughout, reports the outage, and persists everything once Postgres is back', async () => {
    const load = startLoad({ type: `fault-${randomUUID().slice(0, 6)}`, replicas: fleet.urls });
    await load.progress(300);
    // A backlog for the agents to work through while no task can be posted.
    const backlog = await load.backlog(1_000);

    await postgres.stop();
    const stoppedAt = Date.now();
    const before = load.ledger.results.size;
    backlog.release();
    await load.progress(100, OUTAGE_MS);
    await waitReadyz(
      fleet,
      'Postgres unreachable',
      (state) => state.status === 503 && /^unreachable/.test(state.body.postgres ?? '') && state.body.redis === 'ok',
    );
    await sleep(Math.max(0, stoppedAt + OUTAGE_MS - Date.now())); // the outage itself lasts 10 s
    const duringOutage = load.ledger.results.size - before;
    expect(load.ledger.counts['POST /task 503'], 'tasks refused as "try again later" while Postgres is down').toBeGreaterThan(0);

    await postgres.start();
    await waitReadyz(fleet, 'ready again', (state) => state.status === 200);
    expect([...fleet.replicas, fleet.worker].every(alive), 'the same replicas and worker, none restarted').toBe(true);
    await load.progress(300);
    const figures = await verifyLedger(fleet.db, fleet.env.config, await load.stop(noneWaiting(fleet.db)), 0);
    report('Postgres outage:', { ...figures, resultsAcceptedDuringOutage: duringOutage });
  });
});
