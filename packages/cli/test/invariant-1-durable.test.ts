// Invariant 1 — accepted means durable: a 200 on POST /task or POST /tasks/response survives the
// crash of any single API replica or worker; Postgres is the system of record.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '@afm/shared/testing/wait';
import { call, newTask, poll, type PostedTask } from './support/client.js';
import { startSystem, type System } from './support/system.js';
import { freePort, spawnReplica, spawnWorker } from './support/topology.js';

let s: System;
beforeAll(async () => {
  s = await startSystem('inv1');
});
afterAll(() => s.close());

/** Posts tasks of a fresh type through both replicas and claims them all. */
async function claimedTasks(count: number) {
  const type = `d-${randomUUID().slice(0, 8)}`;
  const tasks = Array.from({ length: count }, (_, n) => newTask(type, { n }));
  for (const [n, task] of tasks.entries()) expect((await call(n % 2 ? s.a.url : s.b.url, 'POST', '/task', task)).status).toBe(200);
  const claimed = [];
  while (claimed.length < count) claimed.push(...(await poll(s.b.url, [type], 50)));
  return tasks;
}

const answer = (base: string, task: PostedTask) =>
  call(base, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { echo: task.task_data.n } });

describe('invariant 1: accepted means durable', () => {
  it('results accepted while no worker runs are all in Postgres after a worker starts', async () => {
    const tasks = await claimedTasks(60);
    const replies = await Promise.all(tasks.map((task, n) => answer(n % 2 ? s.a.url : s.b.url, task)));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);
    const ids = tasks.map((task) => task.task_id);
    expect(await s.finished(ids)).toEqual([]);

    const worker = spawnWorker(s.env.config);
    try {
      const rows = await waitFor(
        async () => {
          const done = await s.finished(ids);
          return done.length === ids.length && done;
        },
        { timeoutMs: 20_000, what: 'all results in Postgres' },
      );
      for (const row of rows) {
        const task = tasks.find((t) => t.task_id === row.id)!;
        expect(row).toMatchObject({ state: 'completed', result: { echo: task.task_data.n } });
      }
    } finally {
      await worker.kill('SIGTERM');
    }
  });

  it('a worker killed mid-batch loses nothing', async () => {
    const tasks = await claimedTasks(400);
    const ids = tasks.map((task) => task.task_id);
    const replies = await Promise.all(tasks.map((task, n) => answer(n % 2 ? s.a.url : s.b.url, task)));
    expect(replies.every((reply) => reply.status === 200)).toBe(true);

    const first = spawnWorker(s.env.config);
    await waitFor(async () => (await s.finished(ids)).length > 0, {
      timeoutMs: 20_000,
      intervalMs: 2,
      what: 'the worker to start writing',
    });
    await first.kill('SIGKILL');
    const writtenBeforeKill = (await s.finished(ids)).length;

    const second = spawnWorker(s.env.config);
    try {
      // Jobs the killed worker held come back once their locks expire.
      await waitFor(async () => (await s.finished(ids)).length === ids.length, {
        timeoutMs: 45_000,
        intervalMs: 200,
        what: 'every result',
      });
    } finally {
      await second.kill('SIGTERM');
    }
    expect(writtenBeforeKill).toBeLessThan(ids.length); // it really died mid-batch
    const rows = await s.finished(ids);
    expect(new Set(rows.map((row) => row.id)).size).toBe(ids.length);
  }, 90_000);

  it('tasks accepted by a replica that is then killed are all kept', async () => {
    const replica = await spawnReplica(s.env.config, await freePort());
    const type = `k-${randomUUID().slice(0, 8)}`;
    const accepted: PostedTask[] = [];
    const refused: number[] = [];
    let stop = false;
    // Eight posters, so that requests are in flight when the replica dies.
    const poster = async () => {
      while (!stop) {
        const task = newTask(type);
        let reply;
        try {
          reply = await call(replica.url, 'POST', '/task', task);
        } catch {
          return; // connection refused or reset: the replica is gone
        }
        if (reply.status === 200) accepted.push(task);
        else refused.push(reply.status);
      }
    };
    const load = Promise.all(Array.from({ length: 8 }, poster));
    await waitFor(() => accepted.length >= 50, { what: '50 accepted tasks' });
    await replica.kill('SIGKILL');
    stop = true;
    await load;
    expect(refused).toEqual([]);

    // Every accepted task is in Postgres (a task stored just before the kill, whose 200 never left, may
    // be there too) and can be claimed through the surviving replicas.
    const stored = new Set((await s.db.selectFrom('tasks').select('id').where('task_type', '=', type).execute()).map((row) => row.id));
    for (const task of accepted) expect(stored.has(task.task_id)).toBe(true);
    const claimed = new Set<string>();
    for (;;) {
      const got = await poll(s.a.url, [type], 100);
      if (got.length === 0) break;
      for (const task of got) claimed.add(task.task_id);
    }
    for (const task of accepted) expect(claimed.has(task.task_id)).toBe(true);
  });

  it('results accepted by a replica that is then killed all reach Postgres', async () => {
    const tasks = await claimedTasks(300);
    const replica = await spawnReplica(s.env.config, await freePort());
    const accepted: string[] = [];
    const statuses: number[] = [];
    const load = (async () => {
      for (const task of tasks) {
        let reply;
        try {
          reply = await answer(replica.url, task);
        } catch {
          return; // the replica is gone
        }
        statuses.push(reply.status);
        if (reply.status === 200) accepted.push(task.task_id);
      }
    })();
    await waitFor(() => accepted.length >= 50, { what: '50 accepted results' });
    await replica.kill('SIGKILL');
    await load;
    expect(statuses.filter((status) => status !== 200)).toEqual([]);
    expect(accepted.length).toBeLessThan(tasks.length);

    const worker = spawnWorker(s.env.config);
    try {
      await waitFor(async () => (await s.finished(accepted)).length === accepted.length, { timeoutMs: 20_000, what: 'accepted results' });
    } finally {
      await worker.kill('SIGTERM');
    }
  });
});
