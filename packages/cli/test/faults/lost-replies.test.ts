// README failure table (issue 11), replies that never came back: Redis does the work of a request and
// the connection dies before its answer reaches the replica. A proxy between one replica and Redis lets
// the request through, drops Redis's reply and cuts the connection, at exactly that moment.
//
// The replica's Redis client sends an unanswered command again on its new connection (ioredis does, once),
// so the request either fails (503, and the client retries) or is carried out a second time.
//
// - A result taken by Redis whose reply was lost: either way, it is answered 200 — the second time it is
//   an identical repeat — and the stored result is the agent's, once.
// - A poll whose claim was made but whose reply was lost: the agent gets 503, or 200 without the task,
//   and never sees the task, which stays with that agent — not handed to anyone else — until its
//   task_timeout sends it back to its queue (task_retries), or until the agent is silent and cleanup
//   fails it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTask } from '@afm/shared/db/tasks';
import { createDb } from '@afm/shared/db/connect';
import type { Kysely } from 'kysely';
import type { Database } from '@afm/shared/db/schema';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import type { ApiServer } from '@afm/api/server';
import { call, newTask, pollBody, type Dispatched } from '../support/client.js';
import { proxied, type CuttableProxy } from '../support/proxy.js';
import { startInProcessWorker, startReplica } from '../support/topology.js';
import { report } from './support/verify.js';

let env: TestEnv;
let db: Kysely<Database>;
let proxy: CuttableProxy;
let replica: ApiServer;
let worker: { close(): Promise<void> };
beforeAll(async () => {
  env = await createTestEnv('fault-lost-replies', { AGENT_ACTIVE_THRESHOLD: '3', CLEANUP_INTERVAL: '0.5', POLL_RATE_LIMIT: '0' });
  db = createDb(env.config.DATABASE_URI, { max: 2 });
  const redis = await proxied(env.config.REDIS_URL, 6379);
  proxy = redis.proxy;
  replica = await startReplica({ ...env.config, REDIS_URL: redis.url }, env.logger);
  worker = await startInProcessWorker(env.config, env.logger, { syncEveryMs: 250 });
});
afterAll(async () => {
  await replica?.close();
  await worker?.close();
  await proxy?.close();
  await db?.destroy();
  await env?.cleanup();
});

/** Posts a task and claims it, through the replica behind the proxy (loading the scripts on the way). */
async function claimed(type: string, extra: Record<string, unknown> = {}) {
  const task = { ...newTask(type, { n: 1 }), ...extra };
  expect((await call(replica.url, 'POST', '/task', task)).status).toBe(200);
  const agent = pollBody([type], 1);
  const reply = await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', agent);
  expect(reply.body.tasks.map((t) => t.task_id)).toEqual([task.task_id]);
  return { task, agent };
}

/** Retries like an agent: on 503 (and a lost connection) until AFM answers otherwise. */
async function retried(path: string, body: unknown) {
  const statuses: number[] = [];
  return waitFor(
    async () => {
      const reply = await call(replica.url, 'POST', path, body);
      statuses.push(reply.status);
      return reply.status !== 503 && { ...reply, statuses };
    },
    { timeoutMs: 20_000, intervalMs: 100, what: `${path} to be answered` },
  );
}

describe('a reply lost after Redis did the work', () => {
  it("a result: the agent's retry after the 503 answers 200, and its result is stored once", async () => {
    const type = `lr-${randomUUID().slice(0, 6)}`;
    const { task } = await claimed(type);
    const result = { protocol: 1, task_id: task.task_id, task_data: { from: 'the agent' } };
    const lost = proxy.loseReplyTo(task.task_id);
    const first = await call(replica.url, 'POST', '/tasks/response', result);
    await lost;
    expect([200, 503], first.text).toContain(first.status);
    // Redis took it the first time: whether told 503 or sent again, the agent ends with a 200.
    const again = await retried('/tasks/response', result);
    expect(again.status, `answers after the lost reply: ${again.statuses.join(', ')}`).toBe(200);
    await waitFor(async () => (await findTask(db, task.task_id))?.state === 'completed', { what: 'the result in Postgres' });
    expect((await findTask(db, task.task_id))?.result).toEqual({ from: 'the agent' });
    // A different result is still refused: the first one stands.
    expect((await call(replica.url, 'POST', '/tasks/response', { ...result, task_data: { other: 1 } })).status).toBe(400);
    report('Result reply lost:', { first: first.status, retries: again.statuses });
  });

  it('a poll: the task stays with the agent that never saw it, until task_timeout sends it back', async () => {
    const type = `lp-${randomUUID().slice(0, 6)}`;
    // Warm the scripts through this replica, then a task that may wait 2 s for its result, once more.
    await claimed(type);
    const task = { ...newTask(type, { n: 2 }), task_timeout: 2, task_retries: 1 };
    expect((await call(replica.url, 'POST', '/task', task)).status).toBe(200);
    const unlucky = pollBody([type], 1);
    const lost = proxy.loseReplyTo(unlucky.agent_id);
    const first = await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', unlucky);
    await lost;
    expect(first.status === 503 || (first.status === 200 && first.body.tasks.length === 0), first.text).toBe(true);
    // The claim was made: nobody else gets the task, nor does the agent's next poll.
    const other = pollBody([type], 1);
    expect((await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', other)).body.tasks).toEqual([]);
    expect((await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', unlucky)).body.tasks).toEqual([]);
    // Past its task_timeout it goes back to its queue, and the next poll gets it.
    const started = Date.now();
    const handedOut = await waitFor(
      async () =>
        (await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', other)).body.tasks.find((t) => t.task_id === task.task_id),
      { timeoutMs: 15_000, intervalMs: 200, what: 'the task to come back after its task_timeout' },
    );
    expect(handedOut.task_data).toEqual({ n: 2 });
    expect((await call(replica.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { ok: 1 } })).status).toBe(
      200,
    );
    await waitFor(async () => (await findTask(db, task.task_id))?.state === 'completed', { what: 'the result in Postgres' });
    expect((await findTask(db, task.task_id))?.attempts).toBe(2);
    report('Poll reply lost (task_timeout 2 s, one retry):', { first: first.status, backAfterMs: Date.now() - started });
  });

  it('a poll: without a task_timeout, the task fails once the agent that never saw it goes silent', async () => {
    const type = `ls-${randomUUID().slice(0, 6)}`;
    await claimed(type);
    const task = newTask(type, { n: 3 });
    expect((await call(replica.url, 'POST', '/task', task)).status).toBe(200);
    const unlucky = pollBody([type], 1);
    const lost = proxy.loseReplyTo(unlucky.agent_id);
    const first = await call<{ tasks: Dispatched[] }>(replica.url, 'POST', '/tasks', unlucky);
    await lost;
    expect(first.status === 503 || first.body.tasks.length === 0, first.text).toBe(true);
    await waitFor(async () => (await findTask(db, task.task_id))?.state === 'failed', {
      timeoutMs: 20_000,
      what: "cleanup to fail the silent agent's task",
    });
    expect((await findTask(db, task.task_id))?.error).toMatch(/agent went silent/);
  });
});
