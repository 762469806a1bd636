/**
 * The system a fault test breaks: two API replicas and one worker as real child processes (so kill -9
 * is real), on isolated storage, with agent and cleanup timings short enough to settle within a test.
 */
import type { Kysely } from 'kysely';
import { createDb } from '@afm/shared/db/connect';
import type { Database } from '@afm/shared/db/schema';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import { freePort, spawnReplica, spawnWorker, type AfmProcess } from '../../support/topology.js';

const SETTINGS = {
  // Hand-outs lost with a killed connection fail soon after the agents stop.
  AGENT_ACTIVE_THRESHOLD: '5',
  CLEANUP_INTERVAL: '1',
  // The load's agents poll as fast as AFM answers.
  POLL_RATE_LIMIT: '0',
};

/** Not exited, not killed by a signal. */
export const alive = (process: AfmProcess) => process.child.exitCode === null && process.child.signalCode === null;

export interface Replica extends AfmProcess {
  url: string;
  port: number;
}

export interface Fleet {
  env: TestEnv;
  db: Kysely<Database>;
  replicas: Replica[];
  worker: AfmProcess;
  urls(): string[];
  /** Starts a replica again on the same port (after it was killed). */
  restartReplica(index: number): Promise<Replica>;
  startWorker(): AfmProcess;
  close(): Promise<void>;
}

export interface Readyz {
  status: number;
  body: { redis?: string; postgres?: string; workers?: number | null };
}

export async function readyz(url: string): Promise<Readyz> {
  const response = await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(5_000) });
  return { status: response.status, body: (await response.json()) as Readyz['body'] };
}

/** Waits until every replica's /readyz satisfies `check`. */
export async function waitReadyz(fleet: Fleet, what: string, check: (state: Readyz) => boolean, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => (await Promise.all(fleet.urls().map(readyz))).every(check), {
    timeoutMs,
    intervalMs: 100,
    what: `/readyz: ${what}`,
  });
}

/** `settings`: more configuration for every process (a Redis mode, REDIS_ACK_REPLICAS…). */
export async function startFleet(label: string, settings: Record<string, string> = {}): Promise<Fleet> {
  const env = await createTestEnv(label, { ...SETTINGS, ...settings });
  // Child processes get the storage keys from the config and these settings explicitly.
  const overrides = { ...SETTINGS, ...settings };
  const ports = await Promise.all([freePort(), freePort()]);
  const replicas: Replica[] = await Promise.all(
    ports.map(async (port) => ({ ...(await spawnReplica(env.config, port, overrides)), port })),
  );
  const fleet: Fleet = {
    env,
    db: createDb(env.config.DATABASE_URI, { max: 2 }),
    replicas,
    worker: spawnWorker(env.config, overrides),
    urls: () => replicas.map((replica) => replica.url),
    async restartReplica(index) {
      const replica = { ...(await spawnReplica(env.config, replicas[index]!.port, overrides)), port: replicas[index]!.port };
      replicas[index] = replica;
      return replica;
    },
    startWorker() {
      fleet.worker = spawnWorker(env.config, overrides);
      return fleet.worker;
    },
    async close() {
      await Promise.all([...replicas.map((replica) => replica.kill('SIGTERM')), fleet.worker.kill('SIGTERM')]);
      await fleet.db.destroy();
      await env.cleanup();
    },
  };
  await waitReadyz(fleet, 'the worker beats', (state) => state.body.workers === 1);
  return fleet;
}
