/**
 * The operator's actions over HTTP (issue 15): pause, resume and drain queues, cancel and retry tasks,
 * drop agents. Queue actions need Redis only, so they work while Postgres is down.
 */
import type { z } from 'zod';
import type { DrainResult, DropAgentResult, QueueActionResult } from '@afm/shared/admin-api';
import { taskOptionsOf } from '@afm/shared/db/tasks';
import { AfmError } from '@afm/shared/errors';
import { dropAgent } from '@afm/shared/ops/agents';
import { drainQueues, pauseQueues, resumeQueues } from '@afm/shared/ops/queues';
import { parseTaskQueueName } from '@afm/shared/queues';
import type { TaskDetail } from '@afm/shared/read-api';
import type { ApiDeps } from '../deps.js';
import { postTask } from './post-task.js';
import { readTaskDetail } from './read.js';
import { guard } from './storage.js';

type Deps = Pick<ApiDeps, 'db' | 'tasks' | 'dispatch' | 'config' | 'logger'>;

function queueRef(name: string) {
  const parsed = parseTaskQueueName(name);
  if (!parsed) throw new AfmError('AFM_ERR_INTERNAL', `not a task queue: ${name}`);
  return { task_type: parsed.type, task_version: parsed.version, location: parsed.location ?? null };
}

export async function pause(deps: Deps, type: string, version?: number): Promise<z.infer<typeof QueueActionResult>> {
  const names = await guard('Redis', () => pauseQueues(deps, type, version));
  deps.logger.info({ event: 'queue.paused', task_type: type, task_version: version, queues: names }, 'queues paused');
  return { paused: true, queues: names.map(queueRef) };
}

export async function resume(deps: Deps, type: string, version?: number): Promise<z.infer<typeof QueueActionResult>> {
  const names = await guard('Redis', () => resumeQueues(deps, type, version));
  deps.logger.info({ event: 'queue.resumed', task_type: type, task_version: version, queues: names }, 'queues resumed');
  return { paused: false, queues: names.map(queueRef) };
}

export async function drain(deps: Deps, type: string, reason: string, version?: number): Promise<z.infer<typeof DrainResult>> {
  const drained = await guard('Redis', () => drainQueues(deps, type, reason, version));
  deps.logger.info({ event: 'queue.drained', task_type: type, task_version: version, drained, reason }, 'queues drained');
  return { queues: Object.entries(drained).map(([name, count]) => ({ ...queueRef(name), drained: count })) };
}

/**
 * A finished task posted again as a new task of the same test run: same type, version, data and
 * options. An unfinished task is a 409 (cancel it first). With `newId` the retry may be repeated: the
 * repeat is the same post, which POST /task answers without storing anything.
 */
export async function retry(deps: Deps, taskId: string, newId?: string): Promise<TaskDetail & { retry_of: string }> {
  const task = await guard('Postgres', () => deps.tasks.find(taskId));
  if (!task) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with task_id ${taskId}`);
  if (!task.finished_at) {
    throw new AfmError(
      'AFM_ERR_TASK_NOT_FINISHED',
      `task ${taskId} is ${task.state}; only a finished task can be retried (cancel it first)`,
    );
  }
  const id = newId ?? crypto.randomUUID();
  if (id === taskId) throw new AfmError('AFM_ERR_VALIDATION', 'body.task_id: must differ from the retried task');
  await postTask(deps, {
    task_id: id,
    test_id: task.test_id,
    task_type: task.task_type,
    task_version: task.task_version,
    task_data: task.task_data,
    ...taskOptionsOf(task),
  });
  deps.logger.info({ event: 'task.reposted', task_id: id, retry_of: taskId }, 'task posted again by an operator');
  return { ...(await readTaskDetail(deps, id)), retry_of: taskId };
}

export async function drop(deps: Deps, agentId: string): Promise<z.infer<typeof DropAgentResult>> {
  const { failedTasks } = await guard('Postgres', () => dropAgent(deps, agentId));
  deps.logger.info({ event: 'agent.dropped', agent_id: agentId, failed_tasks: failedTasks }, 'agent dropped by an operator');
  return { agent_id: agentId, failed_tasks: failedTasks };
}
