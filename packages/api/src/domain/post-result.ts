/**
 * SPEC §2.2 — an agent posts a task's result or error. The first outcome of a claimed task wins
 * (SPEC §4.3); it is accepted once it is in Redis and on its way to Postgres through the results queue.
 */
import type { AnswerReply } from '@afm/shared/dispatch/scripts';
import { settleTask } from '@afm/shared/dispatch/results';
import { taskOptionsOf } from '@afm/shared/db/tasks';
import { AfmError } from '@afm/shared/errors';
import type { ResultPost } from '@afm/shared/protocol';
import { taskQueueName, type TaskOutcome } from '@afm/shared/queues';
import type { ApiDeps } from '../deps.js';
import { assertSize } from './limits.js';
import { guard } from './storage.js';

type Deps = Pick<ApiDeps, 'tasks' | 'scripts' | 'results' | 'logger' | 'metrics' | 'config'>;

/** `boundAgent`: the agent an agent token is bound to; only its own claims may be answered. */
export async function postResult(deps: Deps, post: ResultPost, { boundAgent }: { boundAgent?: string } = {}): Promise<void> {
  const taskId = post.task_id;
  if ('task_data' in post) assertSize('body.task_data', post.task_data, deps.config.RESULT_LIMIT);
  else assertSize('body.task_error', post.task_error, deps.config.RESULT_LIMIT);
  const outcome: TaskOutcome =
    'task_data' in post ? { state: 'completed', result: post.task_data } : { state: 'failed', error: post.task_error };
  const now = Date.now();
  const settle = () =>
    guard('Redis', () =>
      settleTask(
        {
          ...deps,
          onSubmitError: (error) =>
            deps.logger.warn({ err: error, task_id: taskId }, 'result accepted but not queued yet; sync will queue it'),
        },
        taskId,
        outcome,
        now,
        boundAgent,
      ),
    );

  let reply = await settle();
  if (!reply.accepted && reply.state === 'missing' && (await restoreClaimFromPostgres(deps, taskId))) {
    reply = await settle();
  }
  if (!reply.accepted) throw refusal(taskId, reply.state);
  deps.metrics.observeRun((now - reply.claimedAt) / 1000);
  deps.logger.info(
    { event: outcome.state === 'completed' ? 'task.completed' : 'task.failed', task_id: taskId, agent_id: reply.agentId },
    `task ${outcome.state}`,
  );
}

/**
 * Redis knows nothing of the task: Postgres says whether it is unknown, unclaimed or finished. A task
 * Postgres sees as claimed and unfinished lost its claim in a Redis flush: the claim is rebuilt.
 */
async function restoreClaimFromPostgres(deps: Deps, taskId: string): Promise<boolean> {
  const task = await guard('Postgres', () => deps.tasks.find(taskId));
  if (!task) throw new AfmError('AFM_ERR_UNKNOWN_TASK', `no task with task_id ${taskId}`);
  if (task.finished_at) throw refusal(taskId, 'done');
  if (task.state !== 'claimed' || !task.agent_id || !task.claimed_at) throw refusal(taskId, 'waiting');
  const queue = taskQueueName(task.task_type, task.task_version, taskOptionsOf(task).task_location);
  await guard('Redis', () => deps.scripts.restoreClaim(taskId, task.agent_id!, task.claimed_at!.getTime(), queue));
  return true;
}

function refusal(taskId: string, state: (AnswerReply & { accepted: false })['state']): AfmError {
  if (state === 'other-agent') return new AfmError('AFM_ERR_FORBIDDEN', `task ${taskId} is held by another agent than this token's`);
  if (state === 'waiting' || state === 'missing') {
    return new AfmError('AFM_ERR_TASK_NOT_CLAIMED', `task ${taskId} has not been claimed by any agent`);
  }
  return new AfmError('AFM_ERR_TASK_FINISHED', `task ${taskId} already has a result or error; the first one stands`);
}
