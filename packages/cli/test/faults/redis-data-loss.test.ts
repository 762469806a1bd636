// README failure table (issue 11): Redis loses its data (a flush, a failover to an empty replica, a
// restart without persistence) under two replicas and a worker that keep running. Without a restart the
// worker schedules its jobs again and rebuilds Redis from Postgres: waiting tasks are handed out again,
// claims are restored (their agents' results are taken), the tasks of an agent that went silent fail,
// and finished tasks stay finished. The time each took is reported.
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { MAINTENANCE_JOBS, MAINTENANCE_QUEUE } from '@afm/shared/queues';
import { deleteDeployment } from '@afm/shared/dispatch/dispatch';
import { connectRedis, createRedis } from '@afm/shared/redis';
import { waitFor } from '@afm/shared/testing/wait';
import { call, newTask, pollBody, type Dispatched } from '../support/client.js';
import { alive, startFleet, waitReadyz, type Fleet } from './support/fleet.js';
import { report } from './support/verify.js';

let fleet: Fleet;
beforeAll(async () => {
  fleet = await startFleet('fault-data-loss');
});
afterAll(() => fleet?.close());

const states = async (ids: string[]) =>
  Object.fromEntries(
    (
      await fleet.db
        .selectFrom('tasks')
        .select(['id', 'state', 'error'])
        .where('id', '=', sql<string>`any(${ids}::uuid[])`)
        .execute()
    ).map((row) => [row.id, row]),
  );

describe('Redis loses its data', () => {
  it('the running processes rebuild it from Postgres and go on, schedulers included', async () => {
    const [a, b] = fleet.urls();
    const type = `loss-${randomUUID().slice(0, 6)}`;
    const tasks = Array.from({ length: 50 }, (_, n) => newTask(type, { n }));
    for (const task of tasks) expect((await call(a!, 'POST', '/task', task)).status).toBe(200);
    // 5 tasks finished, 10 held by an agent that keeps polling, 5 by one that goes silent, 30 waiting.
    const done = await call<{ tasks: Dispatched[] }>(b!, 'POST', '/tasks', pollBody([type], 5));
    for (const task of done.body.tasks)
      expect((await call(a!, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { done: true } })).status).toBe(
        200,
      );
    const busy = pollBody([type], 10, randomUUID());
    const held = (await call<{ tasks: Dispatched[] }>(a!, 'POST', '/tasks', busy)).body.tasks.map((task) => task.task_id);
    const silent = (await call<{ tasks: Dispatched[] }>(b!, 'POST', '/tasks', pollBody([type], 5))).body.tasks.map((task) => task.task_id);
    expect([done.body.tasks.length, held.length, silent.length]).toEqual([5, 10, 5]);
    const finished = done.body.tasks.map((task) => task.task_id);
    const waiting: string[] = tasks
      .map((task) => task.task_id)
      .filter((id) => !finished.includes(id) && !held.includes(id) && !silent.includes(id));
    // Postgres knows the claims and results before Redis loses them (the sync job writes them within a second).
    await waitFor(
      async () => {
        const rows = await states([...finished, ...held, ...silent]);
        return finished.every((id) => rows[id]?.state === 'completed') && [...held, ...silent].every((id) => rows[id]?.state === 'claimed');
      },
      { timeoutMs: 15_000, what: 'claims and results in Postgres' },
    );

    const redis = createRedis(fleet.env.config, 'worker');
    await connectRedis(redis);
    const lostAt = Date.now();
    try {
      await deleteDeployment(redis, fleet.env.config.QUEUE_PREFIX);
      const queue = new Queue(MAINTENANCE_QUEUE, { connection: redis, prefix: fleet.env.config.QUEUE_PREFIX, skipVersionCheck: true });
      try {
        // Every job but retention (TASK_RETENTION is off in the fleet).
        const scheduled = MAINTENANCE_JOBS.filter((job) => job !== 'retention');
        await waitFor(async () => (await queue.getJobSchedulers()).length === scheduled.length, {
          timeoutMs: 15_000,
          what: 'the job schedulers back',
        });
      } finally {
        await queue.close();
      }
    } finally {
      await redis.quit();
    }
    const schedulersBack = Date.now() - lostAt;

    // The busy agent keeps polling; a new one takes the waiting tasks as they come back.
    const fresh = pollBody([type], 50);
    const delivered = new Set<string>();
    await waitFor(
      async () => {
        await call(b!, 'POST', '/tasks', { ...busy, max_tasks: 0 });
        const reply = await call<{ tasks: Dispatched[] }>(a!, 'POST', '/tasks', fresh);
        for (const task of reply.body?.tasks ?? []) delivered.add(task.task_id);
        return waiting.every((id) => delivered.has(id));
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'every waiting task to be handed out again' },
    );
    const waitingBack = Date.now() - lostAt;
    expect(
      [...delivered].filter((id) => !waiting.includes(id)),
      'only the waiting tasks came back',
    ).toEqual([]);

    // The busy agent answers its tasks: their claims are rebuilt from Postgres.
    for (const id of held)
      expect((await call(b!, 'POST', '/tasks/response', { protocol: 1, task_id: id, task_data: { held: true } })).status, id).toBe(200);
    await waitFor(
      async () => {
        const rows = await states([...held, ...silent, ...finished]);
        return held.every((id) => rows[id]?.state === 'completed') && silent.every((id) => rows[id]?.state === 'failed');
      },
      { timeoutMs: 30_000, what: "held tasks completed and the silent agent's failed" },
    );
    const rows = await states([...silent, ...finished]);
    for (const id of silent) expect(rows[id]?.error, id).toMatch(/agent went silent/);
    for (const id of finished) expect(rows[id]?.state, id).toBe('completed');
    const silentFailed = Date.now() - lostAt;

    await waitReadyz(fleet, 'ready, the worker beating', (state) => state.status === 200 && state.body.workers === 1);
    expect([...fleet.replicas, fleet.worker].every(alive), 'the same processes, none restarted').toBe(true);
    report('Redis data lost (ms after the loss):', { schedulersBack, waitingTasksBack: waitingBack, silentAgentTasksFailed: silentFailed });
  });
});
