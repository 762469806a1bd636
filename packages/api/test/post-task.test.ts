// docs/protocol.md / §4.1 at the domain level: a task is accepted only once Postgres has it.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '@afm/shared/db/connect';
import { createTaskStore, findTask } from '@afm/shared/db/tasks';
import { openWorkerDeps } from '@afm/worker/deps';
import { reconcileTasks } from '@afm/worker/services/reconcile.service';
import { postTask } from '../src/domain/post-task.js';
import { startApiHarness, type ApiHarness } from './harness.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness('post-task');
});
afterAll(() => h.close());

const task = () => ({
  task_id: randomUUID(),
  test_id: randomUUID(),
  task_type: `pt-${randomUUID().slice(0, 6)}`,
  task_version: 1,
  task_data: {},
});

describe('postTask', () => {
  it('stores, then queues', async () => {
    const posted = task();
    await postTask(h.deps, posted);
    expect(await findTask(h.deps.db, posted.task_id)).toMatchObject({ state: 'waiting' });
    expect(await h.deps.dispatch.queuedTask(posted.task_type, 1, posted.task_id)).toEqual(posted);
  });

  it('answers 503 and queues nothing while Postgres cannot store the task', async () => {
    const down = createDb('postgres://postgres@127.0.0.1:1/none');
    try {
      const posted = task();
      await expect(postTask({ ...h.deps, tasks: createTaskStore(down) }, posted)).rejects.toMatchObject({
        statusCode: 503,
        code: 'AFM_ERR_UNAVAILABLE',
      });
      expect(await h.deps.dispatch.queuedTask(posted.task_type, 1, posted.task_id)).toBeUndefined();
    } finally {
      await down.destroy();
    }
  });

  it('accepts a stored task while Redis is down; it is queued later by the reconciler', async () => {
    const posted = task();
    const broken = { ...h.deps, dispatch: { post: () => Promise.reject(new Error('Connection is closed.')) } as never };
    await postTask(broken, posted);
    expect(await findTask(h.deps.db, posted.task_id)).toMatchObject({ state: 'waiting' });
    expect(await h.deps.dispatch.queuedTask(posted.task_type, 1, posted.task_id)).toBeUndefined();
    const worker = await openWorkerDeps(h.env.config, h.env.logger);
    try {
      expect((await reconcileTasks(worker, Date.now(), 0)).requeuedTasks).toBeGreaterThanOrEqual(1);
    } finally {
      await worker.close();
    }
    expect(await h.deps.dispatch.queuedTask(posted.task_type, 1, posted.task_id)).toEqual(posted);
  });
});
