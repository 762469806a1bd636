// Issue 8 fault: kill -9 an API replica under load. The other replica serves on without a restart;
// afterwards every accepted task and result is in Postgres exactly once and no task went out twice
// (invariants 1–3, 5).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alive, readyz, startFleet, type Fleet } from './support/fleet.js';
import { startLoad } from './support/load.js';
import { lostAnswersBound, noneWaiting, report, verifyLedger } from './support/verify.js';

const MAX_TASKS = 5;

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet('fault-replica');
});
afterAll(() => fleet?.close());

describe('kill -9 of an API replica under load', () => {
  it('loses nothing accepted, hands nothing out twice, and the other replica serves on', async () => {
    const load = startLoad({ type: `fault-${randomUUID().slice(0, 6)}`, replicas: fleet.urls, maxTasks: MAX_TASKS });
    await load.progress(300);
    const [victim, survivor] = fleet.replicas as [NonNullable<Fleet['replicas'][0]>, NonNullable<Fleet['replicas'][0]>];
    expect(await victim.kill('SIGKILL')).toBe('SIGKILL');

    // Clients still try the dead replica (as before a balancer notices) and carry on through the other.
    await load.progress(300);
    expect(alive(survivor)).toBe(true);
    expect((await readyz(survivor.url)).status).toBe(200);
    // The kill cut requests in flight (long polls are always waiting), not only refused later ones.
    const cut = Object.keys(load.ledger.counts).filter((what) => / [A-Z_]+$/.test(what) && !what.endsWith(' ECONNREFUSED'));
    expect(cut.length, 'requests cut by the kill').toBeGreaterThan(0);

    await fleet.restartReplica(0);
    await load.progress(300);
    const ledger = await load.stop(noneWaiting(fleet.db));
    const figures = await verifyLedger(fleet.db, fleet.env.config, ledger, lostAnswersBound(ledger, MAX_TASKS));
    report('replica kill -9:', figures);
    expect(figures.results).toBeGreaterThanOrEqual(900);
  });
});
