/**
 * Cancel (issue 7) — DELETE /task/<id>: a waiting or claimed task becomes failed with task_error
 * "cancelled" (the agent's later result is refused); a finished task is a 409 and stays as it is. A
 * cancelled task cancelled again answers as the first time did, so the request may be retried.
 */
import { AfmError } from '@afm/shared/errors';
import type { z } from 'zod';
import type { CancelResponse } from '@afm/shared/protocol';
import type { FailureCause } from '@afm/shared/dispatch/states';
import { taskQueueName, type TaskOutcome } from '@afm/shared/queues';
import { isoUtc } from '@afm/shared/time';
import { taskOptionsOf } from '@afm/shared/db/tasks';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

const CANCELLED = 'cancelled';
/** A failure by cancellation; an agent may post task_error "cancelled" too, so the cause decides (the text, for failures from before causes). */
const wasCancelled = (cause: FailureCause | null, error: string | null) => (cause === null ? error === CANCELLED : cause === 'cancelled');
const isCancel = (outcome: TaskOutcome | null) => outcome?.state === 'failed' && wasCancelled(outcome.cause, outcome.error);

export async function cancelTask(
  deps: Pick<ApiDeps, 'tasks' | 'dispatch' | 'logger'>,
  taskId: string,
): Promise<z.infer<typeof CancelResponse>> {
  const task = await guard('Postgres', () => deps.tasks.find(taskId));
  if (!task) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with task_id ${taskId}`);
  const cancelled = (at: number | Date) => ({ task_id: taskId, task_failed: isoUtc(at), task_error: CANCELLED }) as const;
  const finished = () => new AfmError('AFM_ERR_TASK_FINISHED_CONFLICT', `task ${taskId} is finished already; it stays as it is`);
  if (task.finished_at) {
    if (task.state === 'failed' && wasCancelled(task.failure, task.error)) return cancelled(task.finished_at);
    throw finished();
  }
  const queue = taskQueueName(task.task_type, task.task_version, taskOptionsOf(task).task_location);
  const now = Date.now();
  const reply = await guard('Redis', () => deps.dispatch.cancelTask(taskId, queue, now));
  if (!reply.cancelled) {
    if (isCancel(reply.outcome) && reply.finishedAt !== null) {
      await deps.dispatch.acknowledged(now);
      return cancelled(reply.finishedAt);
    }
    if (reply.state === 'done') {
      // Postgres has the outcome since it was read above.
      const stored = await guard('Postgres', () => deps.tasks.find(taskId));
      if (stored?.finished_at && stored.state === 'failed' && wasCancelled(stored.failure, stored.error))
        return cancelled(stored.finished_at);
    }
    throw finished();
  }
  try {
    await deps.dispatch.submitResult({
      task_id: taskId,
      outcome: { state: 'failed', error: CANCELLED, cause: 'cancelled' },
      finished_at: now,
      agent_id: reply.agentId,
      claimed_at: reply.claimedAt,
    });
  } catch (error) {
    deps.logger.warn({ err: error, task_id: taskId }, 'cancellation accepted but not queued yet; the reconciler will queue it');
  }
  await deps.dispatch.acknowledged(now);
  deps.logger.info({ event: 'task.cancelled', task_id: taskId, agent_id: reply.agentId }, 'task cancelled');
  return cancelled(now);
}
