/** SPEC §2.4 — the BPMS reads a task; finished tasks carry their result or error and its time. */
import type { Task } from '@afm/shared/db/schema';
import { AfmError } from '@afm/shared/errors';
import type { TaskView } from '@afm/shared/protocol';
import { isoUtc } from '@afm/shared/time';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

export async function readTask(deps: Pick<ApiDeps, 'tasks'>, taskId: string): Promise<TaskView> {
  const task = await guard('Postgres', () => deps.tasks.find(taskId));
  if (!task) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with task_id ${taskId}`);
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
  if (task.finished_at && task.state === 'completed') {
    view.task_completed = isoUtc(task.finished_at);
    view.task_result = task.result ?? {};
  } else if (task.finished_at && task.state === 'failed') {
    view.task_failed = isoUtc(task.finished_at);
    view.task_error = task.error ?? '';
  }
  return view;
}
