// Issue 15: the worker's `history` job samples every queue into Redis on its schedule, with Postgres
// or without; the samples give throughput from the counters' differences.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historySeries, readSamples } from '@afm/shared/history/samples';
import { taskQueueName, type TaskJob } from '@afm/shared/queues';
import { waitFor } from '@afm/shared/testing/wait';
import { sampleHistory } from '../src/services/history.service.js';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { startWorkerHarness, type WorkerHarness } from './harness.js';

let h: WorkerHarness;
let worker: RunningWorker;
beforeAll(async () => {
  h = await startWorkerHarness('worker-history');
  worker = await startWorker(h.deps, { historyEveryMs: 100 });
});
afterAll(async () => {
  await worker.close();
  await h.close();
});

const task = (type: string): TaskJob => ({ task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: {} });
const samples = () => readSamples(h.deps.dispatch.redis, h.deps.dispatch.keys, 0);

describe('the history job', () => {
  it('is scheduled with the others and samples every queue on its period', async () => {
    const type = `h-${randomUUID().slice(0, 6)}`;
    const queue = taskQueueName(type, 1);
    expect(await h.deps.dispatch.jobSchedulers()).toContainEqual(expect.objectContaining({ job: 'history', everyMs: 100 }));
    for (let n = 0; n < 3; n++) await h.deps.dispatch.post(task(type), Date.now());
    const seen = await waitFor(
      async () => {
        const all = await samples();
        return all.filter((sample) => sample.queues[queue]?.waiting === 3).length >= 2 && all;
      },
      { what: 'two samples of the queue with its 3 tasks' },
    );
    expect(seen.at(-1)!.queues[queue]).toMatchObject({ waiting: 3, inProgress: 0, paused: false, events: { posted: 3 } });
    expect((await h.deps.dispatch.jobHealth()).find((health) => health.job === 'history')).toMatchObject({ failures: 0, everyMs: 100 });
  });

  it('gives throughput as the difference of the counters between samples', async () => {
    const type = `t-${randomUUID().slice(0, 6)}`;
    const queue = taskQueueName(type, 1);
    const first = Date.now() + 1;
    await h.deps.dispatch.post(task(type), Date.now());
    await sampleHistory(h.deps, first);
    for (let n = 0; n < 4; n++) await h.deps.dispatch.post(task(type), Date.now());
    await sampleHistory(h.deps, first + 2_000);
    const points = historySeries(await readSamples(h.deps.dispatch.redis, h.deps.dispatch.keys, first), first).queues.get(queue)!;
    // Samples of the running job may fall between the two: the posts are spread over them.
    const posted = points.slice(1).reduce((sum, point, index) => sum + point.per_second.posted! * ((point.t - points[index]!.t) / 1000), 0);
    expect(posted).toBeCloseTo(4, 9);
    expect(points.at(-1)).toMatchObject({ waiting: 5 });
  });
});
