// Invariant 3 — first result wins; duplicates and late results are 400 and change nothing.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@afm/shared/testing/wait';
import { call, newTask, poll } from './support/client.js';
import { startSystem, type System } from './support/system.js';
import { startInProcessWorker } from './support/topology.js';

let s: System;
let worker: { close(): Promise<void> };
beforeAll(async () => {
  s = await startSystem('inv3');
  worker = await startInProcessWorker(s.env.config, s.env.logger);
});
afterAll(async () => {
  await worker.close();
  await s.close();
});

async function claimed() {
  const type = `fr-${randomUUID().slice(0, 6)}`;
  const task = newTask(type);
  await call(s.a.url, 'POST', '/task', task);
  expect(await poll(s.b.url, [type], 1)).toHaveLength(1);
  return task;
}

describe('invariant 3: first result wins', () => {
  it('of 10 results sent at once through both replicas exactly one is accepted, and it stands', async () => {
    const task = await claimed();
    const bodies = Array.from({ length: 10 }, (_, n) =>
      n % 3 === 0
        ? { protocol: 1, task_id: task.task_id, task_error: `error ${n}` }
        : { protocol: 1, task_id: task.task_id, task_data: { n } },
    );
    const replies = await Promise.all(bodies.map((body, n) => call(n % 2 ? s.a.url : s.b.url, 'POST', '/tasks/response', body)));
    const winners = replies.flatMap((reply, n) => (reply.status === 200 ? [bodies[n]!] : []));
    expect(winners).toHaveLength(1);
    expect(replies.filter((reply) => reply.status === 400)).toHaveLength(9);

    const view = await waitFor(
      async () => {
        const reply = await call(s.b.url, 'GET', `/task/${task.task_id}`);
        return (reply.body.task_completed || reply.body.task_failed) && reply.body;
      },
      { what: 'the result on GET' },
    );
    const winner = winners[0]!;
    if ('task_data' in winner) expect(view.task_result).toEqual(winner.task_data);
    else expect(view.task_error).toBe(winner.task_error);
  });

  it('a late result after the first was stored is 400 and changes nothing', async () => {
    const task = await claimed();
    expect((await call(s.a.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_error: 'first' })).status).toBe(200);
    await waitFor(async () => (await call(s.a.url, 'GET', `/task/${task.task_id}`)).body.task_failed, { what: 'the error on GET' });
    const late = await call(s.b.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { late: true } });
    expect(late.status).toBe(400);
    expect(late.body).toMatchObject({ error: 'Bad Request', message: expect.stringContaining(task.task_id) });
    const view = (await call(s.b.url, 'GET', `/task/${task.task_id}`)).body;
    expect(view).toMatchObject({ task_error: 'first' });
    expect(view).not.toHaveProperty('task_result');
    expect(view).not.toHaveProperty('task_completed');
  });
});
