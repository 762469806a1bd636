/** docs/protocol.md — the BPMS reads a task; finished tasks carry their result or error and its time. */
import type { Task } from '@afm/shared/db/schema';
import { taskOptionsOf } from '@afm/shared/db/tasks';
import { AfmError } from '@afm/shared/errors';
import type { TaskView } from '@afm/shared/protocol';
import { isoUtc } from '@afm/shared/time';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

/** With `wait` (issue 7), an unfinished task is answered as soon as it finishes, or after `wait` seconds. */
export async function readTask(
  deps: Pick<ApiDeps, 'tasks' | 'notifications'>,
  taskId: string,
  { wait = 0, signal }: { wait?: number; signal?: AbortSignal } = {},
): Promise<TaskView> {
  const read = async () => {
    const task = await guard('Postgres', () => deps.tasks.find(taskId));
    if (!task) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with task_id ${taskId}`);
    return task;
  };
  let task = await read();
  if (!task.finished_at && wait > 0) {
    const { ready, ended } = deps.notifications.waitForFinish(taskId, wait * 1000, signal ?? new AbortController().signal);
    await guard('Redis', () => ready);
    task = await read(); // it may have finished while the watch was being set
    if (!task.finished_at) {
      await ended;
      task = await read();
    }
  }
  return toTaskView(task);
}

export function toTaskView(task: Task): TaskView {
  const view: TaskView = {
    task_id: task.id,
    test_id: task.test_id,
    task_type: task.task_type,
    task_version: task.task_version,
    task_data: task.task_data,
  };
  Object.assign(view, taskOptionsOf(task));
  if (task.retries !== null) view.task_attempts = task.attempts;
  if (task.finished_at && task.state === 'completed') {
    view.task_completed = isoUtc(task.finished_at);
    view.task_result = task.result ?? {};
  } else if (task.finished_at && task.state === 'failed') {
    view.task_failed = isoUtc(task.finished_at);
    view.task_error = task.error ?? '';
  }
  return view;
}
