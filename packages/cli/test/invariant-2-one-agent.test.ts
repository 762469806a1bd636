// Invariant 2 — exactly one agent per task, across replicas; a task with a result is never
// handed out again.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedis, connectRedis } from '@afm/shared/redis';
import { Dispatch } from '@afm/shared/dispatch/dispatch';
import { waitFor } from '@afm/shared/testing/wait';
import { call, newTask, poll } from './support/client.js';
import { startSystem, type System } from './support/system.js';
import { startInProcessWorker } from './support/topology.js';

let s: System;
beforeAll(async () => {
  s = await startSystem('inv2');
});
afterAll(() => s.close());

describe('invariant 2: exactly one agent per task', () => {
  it('200 tasks polled concurrently by 20 agents through both replicas: no duplicate, none missing', async () => {
    const types = [`one-${randomUUID().slice(0, 6)}`, `two-${randomUUID().slice(0, 6)}`];
    const tasks = Array.from({ length: 200 }, (_, n) => newTask(types[n % 2]!, { n }));
    const posted = await Promise.all(tasks.map((task, n) => call(n % 2 ? s.a.url : s.b.url, 'POST', '/task', task)));
    expect(posted.every((reply) => reply.status === 200)).toBe(true);

    const deliveries = new Map<string, string[]>();
    const agents = Array.from({ length: 20 }, (_, n) => ({ id: randomUUID(), base: n % 2 ? s.a.url : s.b.url }));
    await Promise.all(
      agents.map(async (agent) => {
        for (;;) {
          const got = await poll(agent.base, types, 3, agent.id);
          if (got.length === 0) return;
          for (const task of got) deliveries.set(task.task_id, [...(deliveries.get(task.task_id) ?? []), agent.id]);
        }
      }),
    );
    const duplicates = [...deliveries.entries()].filter(([, to]) => to.length > 1);
    expect(duplicates).toEqual([]);
    expect(new Set(deliveries.keys())).toEqual(new Set(tasks.map((task) => task.task_id)));
  });

  it('never hands out a task that has a result, even if a stale copy is queued again', async () => {
    const worker = await startInProcessWorker(s.env.config, s.env.logger);
    const redis = createRedis(s.env.config, 'client');
    await connectRedis(redis);
    const queues = new Dispatch({ commands: redis, queues: redis, prefix: s.env.config.QUEUE_PREFIX, agentActiveThreshold: 300 });
    try {
      const type = `stale-${randomUUID().slice(0, 6)}`;
      const task = newTask(type);
      await call(s.a.url, 'POST', '/task', task);
      expect((await poll(s.b.url, [type], 1)).map((t) => t.task_id)).toEqual([task.task_id]);
      expect((await call(s.a.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: {} })).status).toBe(200);
      await waitFor(async () => (await call(s.b.url, 'GET', `/task/${task.task_id}`)).body.task_completed, { what: 'the result' });
      await queues.enqueue(task, Date.now()); // what a late reconcile or a retried post could leave behind
      expect(await poll(s.a.url, [type], 5)).toEqual([]);
    } finally {
      await queues.close();
      await redis.quit();
      await worker.close();
    }
  });

  it('never hands a claimed task to a second agent, even if a stale copy is queued again', async () => {
    const redis = createRedis(s.env.config, 'client');
    await connectRedis(redis);
    const queues = new Dispatch({ commands: redis, queues: redis, prefix: s.env.config.QUEUE_PREFIX, agentActiveThreshold: 300 });
    try {
      const type = `held-${randomUUID().slice(0, 6)}`;
      const task = newTask(type);
      await call(s.a.url, 'POST', '/task', task);
      expect((await poll(s.a.url, [type], 1)).map((t) => t.task_id)).toEqual([task.task_id]);
      await queues.enqueue(task, Date.now());
      expect(await poll(s.b.url, [type], 5)).toEqual([]);
      expect((await call(s.b.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { first: 1 } })).status).toBe(
        200,
      );
    } finally {
      await queues.close();
      await redis.quit();
    }
  });
});
