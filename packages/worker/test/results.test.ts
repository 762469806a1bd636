// Invariant 1, §4.3, §4.4: results reach Postgres idempotently, the first stands, and they wait out an outage.
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '@afm/shared/db/connect';
import { createTaskStore, findTask, insertTask } from '@afm/shared/db/tasks';
import type { ResultJob } from '@afm/shared/queues';
import { recordResult } from '../src/services/results.service.js';
import { resultsConcurrency } from '../src/worker.js';
import { startWorkerHarness, type WorkerHarness } from './harness.js';

let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorkerHarness('worker-results');
});
afterAll(() => h.close());

async function postedTask() {
  const task = { task_id: randomUUID(), test_id: randomUUID(), task_type: 'wait', task_version: 1, task_data: {} };
  await insertTask(h.deps.db, task, new Date());
  return task.task_id;
}

const job = (taskId: string, outcome: ResultJob['outcome']): ResultJob => ({
  task_id: taskId,
  outcome,
  finished_at: Date.parse('2026-11-25T12:00:00Z'),
  agent_id: randomUUID(),
  claimed_at: Date.parse('2026-11-25T11:59:00Z'),
});

describe('recordResult', () => {
  it('writes the outcome with its times and agent, then leaves a tombstone in Redis', async () => {
    const id = await postedTask();
    const result = job(id, { state: 'completed', result: { ms: 3 } });
    await h.deps.dispatch.redis.hset(h.deps.dispatch.keys.task(id), 'state', 'answered', 'outcome', '{}');
    await h.deps.dispatch.redis.zadd(h.deps.dispatch.keys.unsaved, 1, id);
    await recordResult(h.deps, result);
    const row = await findTask(h.deps.db, id);
    expect(row).toMatchObject({
      state: 'completed',
      result: { ms: 3 },
      error: null,
      agent_id: result.agent_id,
      finished_at: new Date(result.finished_at),
      claimed_at: new Date(result.claimed_at!),
    });
    expect(await h.deps.dispatch.redis.hgetall(h.deps.dispatch.keys.task(id))).toEqual({ state: 'done' });
    expect(await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.unsaved, id)).toBeNull();
  });

  it('is idempotent and keeps the first outcome', async () => {
    const id = await postedTask();
    const first = job(id, { state: 'failed', error: 'first', cause: 'agent_error' });
    await recordResult(h.deps, first);
    const second = { ...job(id, { state: 'completed', result: { second: true } }), finished_at: first.finished_at + 5_000 };
    await recordResult(h.deps, second);
    expect(await findTask(h.deps.db, id)).toMatchObject({
      state: 'failed',
      error: 'first',
      result: null,
      agent_id: first.agent_id,
      finished_at: new Date(first.finished_at),
    });
    await recordResult(h.deps, first); // a replay of the first job
    expect(await findTask(h.deps.db, id)).toMatchObject({ state: 'failed', error: 'first', finished_at: new Date(first.finished_at) });
  });

  it('keeps the outcome in Redis when Postgres refuses it, so nothing accepted is dropped', async () => {
    const id = await postedTask();
    await h.deps.dispatch.redis.hset(h.deps.dispatch.keys.task(id), 'state', 'answered', 'outcome', '{}');
    await h.deps.dispatch.redis.zadd(h.deps.dispatch.keys.unsaved, 1, id);
    // Validation keeps such values out; this stands for any error that is not "Postgres is down".
    const refused = job(id, { state: 'completed', result: { text: 'a\u0000b' } });
    await expect(recordResult(h.deps, refused)).rejects.toThrow();
    expect(await h.deps.dispatch.redis.hget(h.deps.dispatch.keys.task(id), 'state')).toBe('answered');
    expect(await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.unsaved, id)).not.toBeNull();
    expect(await findTask(h.deps.db, id)).toMatchObject({ finished_at: null });
  });

  it('waits while Postgres is unreachable and writes once it answers', async () => {
    const id = await postedTask();
    // A port that refuses connections stands in for a Postgres that is down.
    const refusing: Server = createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    const port = (refusing.address() as { port: number }).port;
    const down = createDb(`postgres://postgres@127.0.0.1:${port}/nothing`);
    const deps = { ...h.deps, tasks: createTaskStore(down) };
    let attempts = 0;
    refusing.on('connection', () => {
      attempts++;
      if (attempts === 3) deps.tasks = h.deps.tasks; // Postgres is back
    });
    await recordResult(deps, job(id, { state: 'completed', result: { waited: true } }));
    expect(attempts).toBeGreaterThanOrEqual(3);
    expect(await findTask(h.deps.db, id)).toMatchObject({ state: 'completed', result: { waited: true } });
    refusing.close();
    await down.destroy();
  });

  it('gives up waiting when asked to stop, so the job is retried later', async () => {
    const controller = new AbortController();
    const down = createDb('postgres://postgres@127.0.0.1:1/nothing');
    const pending = recordResult(
      { ...h.deps, tasks: createTaskStore(down) },
      job(randomUUID(), { state: 'failed', error: 'x', cause: 'agent_error' }),
      controller.signal,
    );
    controller.abort();
    await expect(pending).rejects.toThrow();
    await down.destroy();
  });
});

describe('results of any size within the limits (issue 11)', () => {
  it('stores a result that travels as its JSON text, as the API sends it', async () => {
    const task = { task_id: randomUUID(), test_id: randomUUID(), task_type: 'text', task_version: 1, task_data: {} };
    await insertTask(h.deps.db, task, new Date());
    const job: ResultJob = {
      task_id: task.task_id,
      outcome: { state: 'completed', result_json: '{"nested":[[],[{"a":1}]]}' },
      finished_at: Date.now(),
      agent_id: null,
      claimed_at: null,
    };
    await recordResult(h.deps, job);
    expect((await findTask(h.deps.db, task.task_id))?.result).toEqual({ nested: [[], [{ a: 1 }]] });
  });

  it('writes as many results at once as a quarter of its heap holds at RESULT_LIMIT, between 8 and 200', () => {
    const MB = 1_048_576;
    expect(resultsConcurrency(262_144, 108 * MB)).toBe(52);
    expect(resultsConcurrency(262_144, 4_144 * MB)).toBe(200);
    expect(resultsConcurrency(262_144 * 16, 108 * MB)).toBe(8);
  });
});
