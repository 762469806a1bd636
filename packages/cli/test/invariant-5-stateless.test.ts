// Invariant 5 — stateless API: any replica can serve any request.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@afm/shared/testing/wait';
import { call, newTask, poll } from './support/client.js';
import { startSystem, type System } from './support/system.js';
import { freePort, spawnReplica, startInProcessWorker, startReplica } from './support/topology.js';

let s: System;
let worker: { close(): Promise<void> };
beforeAll(async () => {
  s = await startSystem('inv5');
  worker = await startInProcessWorker(s.env.config, s.env.logger);
});
afterAll(async () => {
  await worker.close();
  await s.close();
});

describe('invariant 5: stateless API', () => {
  it('serves every step of a task from a different replica', async () => {
    const type = `st-${randomUUID().slice(0, 6)}`;
    const task = newTask(type, { url: 'https://example.com' });
    expect((await call(s.a.url, 'POST', '/task', task)).status).toBe(200);
    expect((await call(s.b.url, 'GET', `/task/${task.task_id}`)).body).toEqual(task);
    // The other replica knows the task: the same again is a repeat, other content a duplicate id.
    expect((await call(s.b.url, 'POST', '/task', task)).status).toBe(200);
    expect((await call(s.b.url, 'POST', '/task', { ...task, task_data: {} })).status).toBe(400);
    const agent = randomUUID();
    expect((await poll(s.b.url, [type], 5, agent)).map((t) => t.task_id)).toEqual([task.task_id]);
    expect((await call(s.a.url, 'GET', '/status')).body.agents).toBeGreaterThanOrEqual(1);
    expect((await call(s.a.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { up: true } })).status).toBe(
      200,
    );
    const view = await waitFor(
      async () =>
        (await call(s.b.url, 'GET', `/task/${task.task_id}`)).body.task_completed &&
        (await call(s.a.url, 'GET', `/task/${task.task_id}`)).body,
    );
    expect(view.task_result).toEqual({ up: true });
  });

  it('a replica started later sees everything the others did, and a stopped one is not missed', async () => {
    const type = `late-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    await call(s.a.url, 'POST', '/task', task);
    const c = await startReplica(s.env.config, s.env.logger);
    try {
      expect((await call(c.url, 'GET', `/task/${task.task_id}`)).status).toBe(200);
      expect((await call(c.url, 'GET', '/status')).body.tasks_waiting).toBeGreaterThanOrEqual(1);
      expect((await poll(c.url, [type], 1)).map((t) => t.task_id)).toEqual([task.task_id]);
    } finally {
      await c.close();
    }
    expect((await call(s.b.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_error: 'x' })).status).toBe(200);
  });

  it('works across replica processes that share nothing but Redis and Postgres', async () => {
    const [one, two] = await Promise.all([spawnReplica(s.env.config, await freePort()), spawnReplica(s.env.config, await freePort())]);
    try {
      const type = `proc-${randomUUID().slice(0, 6)}`;
      const [first, second] = [newTask(type), newTask(type)];
      expect((await call(one.url, 'POST', '/task', first)).status).toBe(200);
      expect((await call(two.url, 'POST', '/task', second)).status).toBe(200);
      expect((await call(two.url, 'POST', '/task', { ...first, task_version: 2 })).status).toBe(400);
      const agent = randomUUID();
      expect((await poll(two.url, [type], 1, agent)).map((t) => t.task_id)).toEqual([first.task_id]);
      expect((await poll(one.url, [type], 1, agent)).map((t) => t.task_id)).toEqual([second.task_id]);
      // each result goes to the replica that did not hand the task out
      expect(
        (await call(one.url, 'POST', '/tasks/response', { protocol: 1, task_id: first.task_id, task_data: { via: 'one' } })).status,
      ).toBe(200);
      expect((await call(two.url, 'POST', '/tasks/response', { protocol: 1, task_id: second.task_id, task_error: 'via two' })).status).toBe(
        200,
      );
      expect((await call(two.url, 'POST', '/tasks/response', { protocol: 1, task_id: first.task_id, task_data: {} })).status).toBe(400);
      await waitFor(async () => (await call(two.url, 'GET', `/task/${first.task_id}`)).body.task_result?.via === 'one', {
        what: 'first result',
      });
      await waitFor(async () => (await call(one.url, 'GET', `/task/${second.task_id}`)).body.task_error === 'via two', {
        what: 'second error',
      });
    } finally {
      await Promise.all([one.kill('SIGTERM'), two.kill('SIGTERM')]);
    }
  });
});
