// Issue 15: GET /api/history (queues and latency over time, for charts) and GET /api/worker (results
// queue, repeatable jobs, worker processes), with a real worker sampling the queues.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QUEUE_EVENTS, type QueueEvent } from '@afm/shared/dispatch/states';
import { appendSample } from '@afm/shared/history/samples';
import { taskQueueName } from '@afm/shared/queues';
import { History, WorkerInfo } from '@afm/shared/read-api';
import { waitFor } from '@afm/shared/testing/wait';
import { openWorkerDeps, type OpenedWorkerDeps } from '@afm/worker/deps';
import { startWorker, type RunningWorker } from '@afm/worker/worker';
import { startApiHarness, type ApiHarness } from './harness.js';

let h: ApiHarness;
let workerDeps: OpenedWorkerDeps;
let worker: RunningWorker;
beforeAll(async () => {
  h = await startApiHarness('history', { HISTORY_HOURS: '2' });
  workerDeps = await openWorkerDeps(h.env.config, h.env.logger);
  worker = await startWorker(workerDeps, { historyEveryMs: 100 });
});
afterAll(async () => {
  await worker.close();
  await workerDeps.close();
  await h.close();
});

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const get = async (url: string) => {
  const response = await h.app.inject({ method: 'GET', url });
  return { status: response.statusCode, body: response.json() };
};
const type = `h-${randomUUID().slice(0, 6)}`;
const newTask = () => ({ task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: {} });

describe('GET /api/history', () => {
  it('charts every queue, the totals and the latency of the hot routes', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 3; n++) {
      const task = newTask();
      expect((await h.app.inject({ method: 'POST', url: '/task', ...json(task) })).statusCode).toBe(200);
      ids.push(task.task_id);
    }
    const poll = { protocol: 1, agent_id: randomUUID(), agent_name: 'h', agent_time: 't', agent_capabilities: { [type]: { version: 1 } } };
    expect((await h.app.inject({ method: 'POST', url: '/tasks', ...json({ ...poll, max_tasks: 1 }) })).json().tasks).toHaveLength(1);
    // A long poll is left out of the latency: its time is its wait.
    await h.app.inject({ method: 'POST', url: '/tasks?wait=0.2', ...json({ ...poll, agent_capabilities: { other: { version: 1 } } }) });
    await h.app.inject({ method: 'GET', url: `/task/${ids[0]}` });
    await h.deps.latency.flush();

    const history = await waitFor(
      async () => {
        const { body } = await get(`/api/history?hours=1&type=${type}`);
        const queue = body.queues.find((q: { task_type: string }) => q.task_type === type);
        return queue?.points.some((p: { waiting: number; in_progress: number }) => p.waiting === 2 && p.in_progress === 1) && body;
      },
      { what: 'a sample of the queue after the claim' },
    );
    expect(() => History.parse(history)).not.toThrow();
    expect(history).toMatchObject({ step_seconds: 10, window_hours: 2 });
    expect(Date.parse(history.to) - Date.parse(history.from)).toBe(3_600_000);
    const queue = history.queues.find((q: { task_type: string }) => q.task_type === type);
    expect(queue).toMatchObject({ task_version: 1, location: null });
    expect(queue.points.at(-1)).toMatchObject({ waiting: 2, in_progress: 1, paused: false });
    expect(Object.keys(queue.points.at(-1).per_second)).toEqual(expect.arrayContaining(['posted', 'claimed', 'completed', 'failed']));
    expect(history.totals.at(-1)).toMatchObject({ waiting: 2, in_progress: 1 });

    const count = (route: string) =>
      (history.latency[route] ?? []).reduce((sum: number, slot: { count: number }) => sum + slot.count, 0) as number;
    expect(count('POST /task')).toBe(3);
    expect(count('POST /tasks')).toBe(1);
    expect(count('GET /task/:task_id')).toBe(1);
    expect(history.latency['POST /task'][0]).toMatchObject({ t: expect.any(Number), p50: expect.any(Number), p99: expect.any(Number) });
  });

  it('stays small however many queues and hours there are: the totals, at most 360 points', async () => {
    // Two hours of samples of 300 queues (stored whole, as no sampler leaves anything out).
    const now = Date.now();
    const states = Array.from({ length: 300 }, (_, n) => ({
      queue: taskQueueName(`many-${n}`, 1, { country: 'FI' }),
      waiting: n,
      inProgress: 1,
      oldestPostedAt: null,
      paused: false,
      events: Object.fromEntries(QUEUE_EVENTS.map((event) => [event, n])) as Record<QueueEvent, number>,
    }));
    for (let n = 720; n > 0; n--) await appendSample(h.deps.dispatch.redis, h.deps.dispatch.keys, states, 2 * 3_600_000, now - n * 10_000);
    // docs/scaling.md: under 100 bytes per queue and sample in Redis.
    const bytes = Number(await h.deps.dispatch.redis.call('MEMORY', 'USAGE', h.deps.dispatch.keys.history, 'SAMPLES', '0'));
    expect(bytes / (720 * 300)).toBeLessThan(100);
    const response = await h.app.inject({ method: 'GET', url: '/api/history?hours=2' });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.queues).toEqual([]);
    expect(body.totals.length).toBeLessThanOrEqual(360);
    expect(body.totals.length).toBeGreaterThan(180);
    expect(response.payload.length).toBeLessThan(1_000_000);
    const one = (await get('/api/history?hours=2&type=many-7')).body;
    expect(one.queues.map((q: { task_type: string }) => q.task_type)).toEqual(['many-7']);
    expect(one.queues[0].points.length).toBeLessThanOrEqual(360);
  }, 60_000);

  it('refuses a bad window with a 400, and caps it at HISTORY_HOURS', async () => {
    expect((await get('/api/history?hours=0')).status).toBe(400);
    expect((await get('/api/history?hours=abc')).status).toBe(400);
    expect((await get('/api/history?days=1')).status).toBe(400);
    const capped = (await get('/api/history?hours=24')).body;
    expect(Date.parse(capped.to) - Date.parse(capped.from)).toBe(2 * 3_600_000);
  });
});

describe('GET /api/worker', () => {
  it("shows the results queue, the worker's jobs with their schedules and last outcome, and its processes", async () => {
    const body = await waitFor(
      async () => {
        const { body } = await get('/api/worker');
        return body.jobs.find((job: { job: string; state: string }) => job.job === 'history' && job.state === 'ok') && body;
      },
      { what: 'the history job run once' },
    );
    expect(() => WorkerInfo.parse(body)).not.toThrow();
    expect(body.results).toEqual({ waiting: 0, active: 0, delayed: 0, failed: 0 });
    expect(body.jobs.map((job: { job: string }) => job.job)).toEqual(
      expect.arrayContaining(['sync', 'reconcile', 'deadlines', 'cleanup', 'history']),
    );
    const history = body.jobs.find((job: { job: string }) => job.job === 'history');
    expect(history).toMatchObject({
      every_ms: 100,
      failures: 0,
      status: 'ok',
      next_run: expect.any(String),
      last_success: expect.any(String),
    });
    expect(body.jobs.find((job: { job: string }) => job.job === 'retention')).toBeUndefined(); // off: TASK_RETENTION unset
    expect(body.workers).toEqual([expect.objectContaining({ live: true, id: expect.any(String), last_beat: expect.any(String) })]);

    // A result accepted and not yet written waits in the results queue.
    await worker.close();
    const task = newTask();
    await h.app.inject({ method: 'POST', url: '/task', ...json(task) });
    const poll = { protocol: 1, agent_id: randomUUID(), agent_name: 'w', agent_time: 't', agent_capabilities: { [type]: { version: 1 } } };
    const claimed = (await h.app.inject({ method: 'POST', url: '/tasks', ...json({ ...poll, max_tasks: 5 }) })).json().tasks;
    for (const { task_id } of claimed) {
      expect(
        (await h.app.inject({ method: 'POST', url: '/tasks/response', ...json({ protocol: 1, task_id, task_data: {} }) })).statusCode,
      ).toBe(200);
    }
    const after = (await get('/api/worker')).body;
    expect(after.results.waiting).toBe(claimed.length);
    expect(after.workers).toEqual([]); // a worker that stops cleanly says so
    worker = await startWorker(workerDeps, { historyEveryMs: 100 });
  });
});
