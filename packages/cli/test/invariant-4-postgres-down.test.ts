// Invariant 4 — no lost results when Postgres is down: results wait in the queue and are
// written when it returns. Postgres "goes down" behind a proxy that only this system uses.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '@afm/shared/db/connect';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import { loadConfig } from '@afm/shared/config';
import { createResultsQueue } from '@afm/shared/dispatch/results';
import { connectRedis, createRedis } from '@afm/shared/redis';
import type { ApiServer } from '@afm/api/server';
import { call, newTask, poll } from './support/client.js';
import { startProxy, type CuttableProxy } from './support/proxy.js';
import { startInProcessWorker, startReplica } from './support/topology.js';

let env: TestEnv;
let proxy: CuttableProxy;
let api: ApiServer;
let worker: { close(): Promise<void> };

beforeAll(async () => {
  env = await createTestEnv('inv4');
  const direct = new URL(env.config.DATABASE_URI);
  proxy = await startProxy(direct.hostname, Number(direct.port || 5432));
  const viaProxy = new URL(env.config.DATABASE_URI);
  viaProxy.hostname = '127.0.0.1';
  viaProxy.port = String(proxy.port);
  const config = loadConfig({
    env: {
      ...process.env,
      ...Object.fromEntries(Object.entries(env.config).map(([k, v]) => [k, String(v)])),
      DATABASE_URI: viaProxy.toString(),
    },
  }).config;
  api = await startReplica(config, env.logger);
  worker = await startInProcessWorker(config, env.logger);
});
afterAll(async () => {
  await api.close();
  await worker.close();
  await proxy.close();
  await env.cleanup();
});

describe('invariant 4: no lost results while Postgres is down', () => {
  it('accepts results during the outage and writes every one when Postgres returns', async () => {
    const type = `pg-${randomUUID().slice(0, 6)}`;
    const tasks = Array.from({ length: 40 }, (_, n) => newTask(type, { n }));
    for (const task of tasks) expect((await call(api.url, 'POST', '/task', task)).status).toBe(200);
    const claimed = await poll(api.url, [type], 100);
    expect(claimed).toHaveLength(40);

    proxy.cut();
    // Agents keep working: polls and results need only Redis.
    expect(
      (
        await call(api.url, 'POST', '/tasks', {
          protocol: 1,
          agent_id: randomUUID(),
          agent_name: 'a',
          agent_time: 't',
          agent_capabilities: {},
          max_tasks: 1,
        })
      ).status,
    ).toBe(200);
    const replies = await Promise.all(
      tasks.map((task) =>
        call(api.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { n: task.task_data.n } }),
      ),
    );
    expect(replies.map((reply) => reply.status)).toEqual(Array(40).fill(200));
    // The worker keeps trying Postgres, and its waiting results spend none of their retry attempts.
    const triedBefore = proxy.refused();
    await waitFor(() => proxy.refused() >= triedBefore + 5, { timeoutMs: 15_000, what: 'the worker to retry Postgres' });
    const redis = createRedis(env.config, 'client');
    await connectRedis(redis);
    const results = createResultsQueue(redis, env.config.QUEUE_PREFIX);
    try {
      expect(await results.getJobCounts('failed', 'delayed')).toEqual({ failed: 0, delayed: 0 });
      const jobs = await results.getJobs(['active', 'waiting']);
      expect(jobs.length).toBe(40);
      expect(jobs.map((job) => job.attemptsMade)).toEqual(Array(40).fill(0));
    } finally {
      await results.close();
      await redis.quit();
    }
    // What needs Postgres says "retry later", never 4xx.
    expect((await call(api.url, 'POST', '/task', newTask(type))).status).toBe(503);
    expect((await call(api.url, 'GET', `/task/${tasks[0]!.task_id}`)).status).toBe(503);
    const status = await call(api.url, 'GET', '/status');
    expect(status.status).toBe(503);
    expect(status.body).toMatchObject({ error: expect.any(String), message: expect.stringContaining('unavailable') });

    const db = createDb(env.config.DATABASE_URI, { max: 1 });
    try {
      const finishedCount = async () =>
        Number(
          (
            await db
              .selectFrom('tasks')
              .select((eb) => eb.fn.countAll().as('n'))
              .where('task_type', '=', type)
              .where('finished_at', 'is not', null)
              .executeTakeFirstOrThrow()
          ).n,
        );
      expect(await finishedCount()).toBe(0);
      proxy.restore();
      await waitFor(async () => (await finishedCount()) === 40, { timeoutMs: 20_000, what: 'all results written' });
      const rows = await db.selectFrom('tasks').select(['id', 'result']).where('task_type', '=', type).execute();
      for (const row of rows) expect(row.result).toEqual({ n: tasks.find((task) => task.task_id === row.id)!.task_data.n });
    } finally {
      await db.destroy();
    }
    await waitFor(async () => (await call(api.url, 'GET', '/status')).status === 200, { what: '/status to recover' });
  });
});
