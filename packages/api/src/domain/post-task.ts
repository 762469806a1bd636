/** SPEC §2.3 — the BPMS posts a task: stored in Postgres (the system of record), then queued for agents. */
import { AfmError } from '@afm/shared/errors';
import type { TaskPost } from '@afm/shared/protocol';
import { normalizeLocation } from '@afm/shared/queues';
import { assertSize } from './limits.js';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

export async function postTask(deps: Pick<ApiDeps, 'tasks' | 'taskQueues' | 'scripts' | 'logger' | 'config'>, posted: TaskPost): Promise<void> {
  assertSize('body.task_data', posted.task_data, deps.config.TASK_DATA_LIMIT);
  const task = posted.task_location ? { ...posted, task_location: normalizeLocation(posted.task_location) } : posted;
  const postedAt = Date.now();
  const inserted = await guard('Postgres', () => deps.tasks.insert(task, new Date(postedAt)));
  if (!inserted) {
    throw new AfmError('AFM_ERR_DUPLICATE_TASK', `task_id ${task.task_id} has been used before; every task needs a new id`);
  }
  try {
    const queue = await deps.taskQueues.enqueue(task, postedAt, { newTask: true });
    // A long poll waiting for this queue gets the task at once.
    await deps.scripts.wakeOne(queue);
  } catch (error) {
    // The task is durable in Postgres, so it is accepted: the worker's reconciler queues it once Redis answers.
    deps.logger.warn({ err: error, task_id: task.task_id }, 'task stored but not queued yet; the reconciler will queue it');
  }
  deps.logger.info(
    { event: 'task.posted', task_id: task.task_id, test_id: task.test_id, task_type: task.task_type, task_version: task.task_version },
    'task posted',
  );
}
