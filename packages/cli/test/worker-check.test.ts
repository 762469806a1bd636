// README, Deployment: `slamon-afm worker --check`, the healthcheck of a worker container — exit 0 while
// a worker of this deployment on this host beats, 1 with one line on stderr otherwise.
import { hostname } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { dispatchKeys } from '@afm/shared/dispatch/keys';
import { newWorkerId, WORKER_STALE_MS, workerBeat, workerRetired } from '@afm/shared/dispatch/workers';
import { connectRedis, createRedis, type RedisClient } from '@afm/shared/redis';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import { runAfm } from './support/run-cli.js';
import { configEnv, freePort, spawnAfm, spawnWorker, startInProcessWorker } from './support/topology.js';

let env: TestEnv;
let redis: RedisClient;
beforeAll(async () => {
  env = await createTestEnv('workercheck');
  redis = createRedis(env.config, 'client');
  await connectRedis(redis);
});
afterAll(async () => {
  await redis.quit();
  await env.cleanup();
});

const check = (args: string[] = [], vars: Record<string, string> = {}) => runAfm(env.config, ['worker', '--check', ...args], vars);
const host = hostname();
const keys = () => dispatchKeys(env.config.QUEUE_PREFIX);

/** One line on stderr, nothing on stdout: what a container runtime shows of a failed healthcheck. */
function expectFailure(result: { code: number; out: string; err: string }, message: RegExp) {
  expect(result.code, result.err).toBe(1);
  expect(result.out).toBe('');
  expect(result.err).toMatch(/^slamon-afm: [^\n]+\n$/);
  expect(result.err).toMatch(message);
}

describe('slamon-afm worker --check', () => {
  it('fails when no worker of the deployment beats', async () => {
    expectFailure(
      await check(),
      new RegExp(
        `no worker of QUEUE_PREFIX ${env.config.QUEUE_PREFIX} on host ${host} sent a heartbeat in the last ${WORKER_STALE_MS / 1000} s$`,
        'm',
      ),
    );
    expectFailure(await check(['--any']), /no worker of QUEUE_PREFIX \S+ sent a heartbeat/);
  });

  it('fails when Redis cannot be reached, saying so', async () => {
    const port = await freePort();
    expectFailure(
      await check([], { REDIS_URL: `redis://127.0.0.1:${port}` }),
      new RegExp(`cannot reach Redis, single server \\(redis://127.0.0.1:${port}\\): connect ECONNREFUSED`),
    );
  });

  it('passes while a worker on this host beats, and fails once it stopped', async () => {
    const worker = await startInProcessWorker(env.config, env.logger);
    try {
      const passed = await check();
      expect(passed.code, passed.err).toBe(0);
      expect(passed.out).toMatch(
        new RegExp(`^worker ${host}:${process.pid}:\\w+ alive on host ${host}: last heartbeat \\d+\\.\\d s ago\\n$`),
      );
      expect((await check(['--any'])).code).toBe(0);
      // Another deployment sharing the Redis has no worker.
      expectFailure(await check([], { QUEUE_PREFIX: `${env.config.QUEUE_PREFIX}-other` }), /no worker of QUEUE_PREFIX \S+-other /);
    } finally {
      await worker.close();
    }
    // A worker stopping retires its entry at once.
    expectFailure(await check(), /no worker of QUEUE_PREFIX/);
  });

  it("checks this host's worker; --any takes a worker of the deployment on any host", async () => {
    const other = newWorkerId('other-host', 7, 'abc123');
    await workerBeat(redis, keys(), other);
    onTestFinished(() => workerRetired(redis, keys(), other));
    expectFailure(await check(), new RegExp(`on host ${host} sent a heartbeat in the last \\d+ s \\(1 on other hosts\\)$`, 'm'));
    const any = await check(['--any']);
    expect(any.code, any.err).toBe(0);
    expect(any.out).toMatch(/^worker other-host:7:abc123 alive: last heartbeat/);
  });

  it('fails for a worker of this host whose last heartbeat is older than WORKER_STALE_MS', async () => {
    const stale = newWorkerId(host, 1, 'stale1');
    await workerBeat(redis, keys(), stale, Date.now() - WORKER_STALE_MS - 1_000);
    onTestFinished(() => workerRetired(redis, keys(), stale));
    expectFailure(await check(), new RegExp(`on host ${host} sent a heartbeat`));
  });

  it('as separate processes: passes for a running worker, fails within WORKER_STALE_MS of its kill -9', async () => {
    const worker = spawnWorker(env.config);
    const probe = async () => {
      const proc = spawnAfm(['worker', '--check'], configEnv(env.config));
      return { code: await proc.exited, output: proc.output() };
    };
    try {
      const alive = await waitFor(async () => (await probe()).code === 0, {
        timeoutMs: 20_000,
        what: `a passing check: ${worker.output()}`,
      });
      expect(alive).toBe(true);
      await worker.kill('SIGKILL');
      // Its entry stays in Redis (nobody retired it) until it is stale.
      const dead = await waitFor(
        async () => {
          const result = await probe();
          return result.code === 1 && result;
        },
        { timeoutMs: WORKER_STALE_MS + 10_000, intervalMs: 500, what: 'a failing check after the kill' },
      );
      expect(dead.output).toMatch(new RegExp(`^slamon-afm: no worker of QUEUE_PREFIX \\S+ on host ${host} sent a heartbeat`));
    } finally {
      await worker.kill('SIGKILL');
    }
  }, 60_000);
});
