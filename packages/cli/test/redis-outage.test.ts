// README failure table, "Redis is down" (issue 11): a replica that cannot reach Redis still answers
// POST /task with 200 within a bound — for a task type it has used before and for one it has not (that
// one used to hang through the whole outage) — because Postgres holds the task; a client that retries
// the same task gets 200, not 400; once Redis is back the worker's reconciler queues every such task,
// and each is handed out once.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import type { ApiServer } from '@afm/api/server';
import { ENQUEUE_BOUND_MS } from '@afm/api/domain/post-task';
import { call, newTask, pollBody, type Dispatched } from './support/client.js';
import { proxied, type CuttableProxy } from './support/proxy.js';
import { startInProcessWorker, startReplica } from './support/topology.js';

let env: TestEnv;
let proxy: CuttableProxy;
let replica: ApiServer;
let worker: { close(): Promise<void> };
beforeAll(async () => {
  env = await createTestEnv('redis-outage');
  const redis = await proxied(env.config.REDIS_URL, 6379);
  proxy = redis.proxy;
  // Only the replica goes through the proxy; the worker reaches Redis directly.
  replica = await startReplica({ ...env.config, REDIS_URL: redis.url }, env.logger);
  worker = await startInProcessWorker(env.config, env.logger, { reconcileGraceMs: 1_000 });
});
afterAll(async () => {
  await replica?.close();
  await worker?.close();
  await proxy?.close();
  await env.cleanup();
});

describe('Redis unreachable from a replica', () => {
  it('answers POST /task within the bound for known and new task types, repeats included; the tasks reach agents once Redis is back', async () => {
    const known = `known-${randomUUID().slice(0, 6)}`;
    const fresh = `fresh-${randomUUID().slice(0, 6)}`;
    expect((await call(replica.url, 'POST', '/task', newTask(known))).status).toBe(200);
    const firstAgent = pollBody([known], 5);
    expect((await call(replica.url, 'POST', '/tasks', firstAgent)).body.tasks).toHaveLength(1);

    proxy.cut();
    const posted = [newTask(known), newTask(fresh)];
    for (const task of posted) {
      const started = performance.now();
      const reply = await call(replica.url, 'POST', '/task', task);
      const took = performance.now() - started;
      expect(reply.status, reply.text).toBe(200);
      expect(took, `POST /task of ${task.task_type} answered in ${Math.round(took)} ms`).toBeLessThan(ENQUEUE_BOUND_MS + 1_500);
      // The client gave up waiting and sent it again: still the same task.
      expect((await call(replica.url, 'POST', '/task', task)).status).toBe(200);
      expect((await call(replica.url, 'POST', '/task', { ...task, task_data: { other: 1 } })).status).toBe(400);
    }
    // Polls need Redis: they are told to retry.
    expect((await call(replica.url, 'POST', '/tasks', pollBody([known, fresh], 5))).status).toBe(503);
    proxy.restore();

    const agent = pollBody([known, fresh], 5);
    const delivered: string[] = [];
    await waitFor(
      async () => {
        const reply = await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', agent);
        if (reply.status === 200) delivered.push(...reply.body.tasks.map((task) => task.task_id));
        return posted.every((task) => delivered.includes(task.task_id));
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'both tasks posted during the outage to reach an agent' },
    );
    // Once each, though the replica's own late enqueue and the reconciler may both have queued one.
    const more = await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', agent);
    expect([...delivered, ...more.body.tasks.map((task) => task.task_id)].sort()).toEqual(posted.map((task) => task.task_id).sort());
  });
});
