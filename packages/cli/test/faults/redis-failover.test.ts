// Issue 13 fault: the Redis primary that holds the deployment is killed with -9 under load, on a
// Sentinel group (1 primary, 2 replicas, 3 sentinels) and on a Cluster (3 primaries, 3 replicas). A
// replica is promoted and the same API and worker processes go on, none restarted. With
// REDIS_ACK_REPLICAS=1 every 200 waited for a replica to hold the write, so nothing acknowledged is
// lost and nothing is handed out twice (the ledger of the other fault tests, invariants 1–3); the
// outage is reported as the clients saw it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchKeys } from '@afm/shared/dispatch/keys';
import { startRedisCluster, startSentinelGroup, type RedisNode } from '@afm/shared/testing/redis-servers';
import { alive, startFleet, type Fleet } from './support/fleet.js';
import { startLoad } from './support/load.js';
import { lostAnswersBound, noneWaiting, report, verifyLedger } from './support/verify.js';

const MAX_TASKS = 5;

interface Topology {
  env: Record<string, string>;
  /** Kills the primary holding `key`; resolves with the kill time once a replica serves it and AFM can be acknowledged again. */
  failover(key: string): Promise<{ killedAt: number; promotedAt: number }>;
  close(): Promise<void>;
}

const TOPOLOGIES: Record<string, () => Promise<Topology>> = {
  'a Sentinel group': async () => {
    const group = await startSentinelGroup({ replicas: 2, sentinels: 3 });
    return {
      env: group.env,
      async failover() {
        const old = await group.primary();
        const killedAt = Date.now();
        await old.kill();
        // The other replica follows the new primary: it has one replica again, so WAIT 1 can succeed.
        await group.promoted(old, 1);
        return { killedAt, promotedAt: Date.now() };
      },
      close: () => group.close(),
    };
  },
  'a Cluster': async () => {
    const cluster = await startRedisCluster({ primaries: 3, replicasPer: 1 });
    return {
      env: cluster.env,
      async failover(key) {
        const old: RedisNode = await cluster.primaryOf(key);
        const killedAt = Date.now();
        await old.kill();
        await cluster.promoted(old, key);
        const promotedAt = Date.now();
        // Its only replica is now the primary: the old node, started again (empty), rejoins as its
        // replica, so that writes can be acknowledged by one replica again.
        await old.start();
        return { killedAt, promotedAt };
      },
      close: () => cluster.close(),
    };
  },
};

describe.each(Object.keys(TOPOLOGIES))('Redis primary killed under load on %s (REDIS_ACK_REPLICAS=1)', (name) => {
  let topology: Topology;
  let fleet: Fleet;
  beforeAll(async () => {
    topology = await TOPOLOGIES[name]!();
    fleet = await startFleet('fault-failover', { ...topology.env, REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT: '1' });
  }, 120_000);
  afterAll(async () => {
    try {
      await fleet?.close();
    } finally {
      await topology?.close();
    }
  });

  it('a replica takes over, the same processes go on, nothing acknowledged is lost or handed out twice', async () => {
    const load = startLoad({ type: `failover-${randomUUID().slice(0, 6)}`, replicas: fleet.urls, maxTasks: MAX_TASKS });
    await load.progress(300);
    const before = { ...load.ledger.counts };

    const { killedAt, promotedAt } = await topology.failover(dispatchKeys(fleet.env.config.QUEUE_PREFIX).epoch);
    // AFM goes on by itself: results are accepted again through the promoted primary.
    await load.progress(300, 60_000);
    expect([...fleet.replicas, fleet.worker].every(alive), 'the same replicas and worker, none restarted').toBe(true);

    const ledger = await load.stop(noneWaiting(fleet.db));
    const figures = await verifyLedger(fleet.db, fleet.env.config, ledger, lostAnswersBound(ledger, MAX_TASKS), 90_000);
    const at = (time: number | null) => (time === null ? null : time - killedAt);
    const failures = Object.fromEntries(
      Object.entries(ledger.counts)
        .map(([what, n]) => [what, n - (before[what] ?? 0)] as const)
        .filter(([, n]) => n > 0),
    );
    expect(before, `no failed request before the kill (${JSON.stringify(ledger.messages)})`).toEqual({});
    report(`Redis failover on ${name}:`, {
      ...figures,
      outage: {
        promotedMs: promotedAt - killedAt,
        firstFailedMs: at(ledger.failed.first),
        lastFailedMs: at(ledger.failed.last),
        count503: Object.entries(failures)
          .filter(([what]) => what.endsWith(' 503'))
          .reduce((sum, [, n]) => sum + n, 0),
        failures,
        messages: ledger.messages,
      },
    });
  });
});
