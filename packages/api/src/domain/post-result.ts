/**
 * docs/protocol.md — an agent posts a task's result or error. The first outcome of a claimed task wins
 * (invariant 3); it is accepted once it is in Redis and on its way to Postgres through the results queue.
 * The same outcome sent again by the agent whose outcome stands is answered 200 and changes nothing,
 * so a retry after a lost answer or a 503 never turns a success into a 400.
 *
 * Bound agent tokens (SECURITY.md) bind both ways: a bound token answers only its agent's claims, and
 * the claims of a bound agent are answered only with its token.
 */
import { NO_HOLDER, type AnswerReply } from '@afm/shared/dispatch/scripts';
import { taskOptionsOf } from '@afm/shared/db/tasks';
import { AfmError } from '@afm/shared/errors';
import { asStored, sameJson } from '@afm/shared/json';
import type { ResultPost } from '@afm/shared/protocol';
import { jobOutcome, taskQueueName, type TaskOutcome } from '@afm/shared/queues';
import type { ApiDeps } from '../deps.js';
import { assertSize } from './limits.js';
import { guard } from './storage.js';

type Deps = Pick<ApiDeps, 'tasks' | 'dispatch' | 'logger' | 'metrics' | 'config' | 'tokens'>;

type Refused = AnswerReply & { accepted: false };

/** Times a result is tried again when the claim changed hands while it was checked (a retried task). */
const HOLDER_CHECKS = 3;

/** `boundAgent`: the agent an agent token is bound to; only its own claims may be answered. */
export async function postResult(deps: Deps, post: ResultPost, { boundAgent }: { boundAgent?: string } = {}): Promise<void> {
  const taskId = post.task_id;
  if ('task_data' in post) assertSize('body.task_data', post.task_data, deps.config.RESULT_LIMIT);
  else assertSize('body.task_error', post.task_error, deps.config.RESULT_LIMIT);
  const outcome: TaskOutcome =
    'task_data' in post
      ? { state: 'completed', result: post.task_data }
      : { state: 'failed', error: post.task_error, cause: 'agent_error' };
  const now = Date.now();
  const settle = (holder: string | undefined) =>
    guard('Redis', () =>
      deps.dispatch.settle(taskId, outcome, now, holder, (error) =>
        deps.logger.warn({ err: error, task_id: taskId }, 'result accepted but not queued yet; the reconciler will queue it'),
      ),
    );

  for (let check = 1; ; check++) {
    // An unbound token may not answer for a bound agent: the script is told which agent must hold the
    // claim — the one it is held by now, once that one is known not to be bound.
    const holder = boundAgent ?? (deps.tokens.hasBoundAgents ? await unboundHolder(deps, taskId) : undefined);
    let reply = await settle(holder);
    if (!reply.accepted && reply.state === 'missing') {
      const restored = await restoreClaimFromPostgres(deps, taskId, outcome, boundAgent);
      if (restored === 'repeat') return; // Postgres has it: nothing in Redis to replicate
      reply = await settle(boundAgent ?? (deps.tokens.hasBoundAgents ? restored : undefined));
    }
    if (reply.accepted) {
      // Accepted in Redis; answered once replicated (REDIS_ACK_REPLICAS). A 503 here is safe to
      // retry: the identical repeat is a 200.
      await deps.dispatch.acknowledged(now);
      deps.metrics.observeRun((now - reply.claimedAt) / 1000);
      deps.logger.info(
        { event: outcome.state === 'completed' ? 'task.completed' : 'task.failed', task_id: taskId, agent_id: reply.agentId },
        `task ${outcome.state}`,
      );
      return;
    }
    if (reply.state === 'other-agent' && !boundAgent && check < HOLDER_CHECKS) continue;
    if (!(await isRepeat(deps, taskId, reply, outcome, boundAgent))) throw refusal(taskId, reply.state);
    // The first one may never have been answered (its reply lost) nor queued: queue it now (a no-op
    // while its job is pending), so Postgres gets it without waiting for the reconciler.
    if (reply.state === 'answered') {
      await requeue(deps, taskId, reply);
      // The first answer's 503 may have come from an unconfirmed replication: confirm it now (the
      // fence covers it, whichever replica and connection took it).
      await deps.dispatch.acknowledged(now);
    }
    return;
  }
}

async function requeue(deps: Pick<Deps, 'dispatch' | 'logger'>, taskId: string, first: Refused & { state: 'answered' }): Promise<void> {
  try {
    await deps.dispatch.submitResult({
      task_id: taskId,
      outcome: jobOutcome(first.first),
      finished_at: first.finishedAt,
      agent_id: first.agentId,
      claimed_at: first.claimedAt,
      attempts: first.attempts,
    });
  } catch (error) {
    deps.logger.warn({ err: error, task_id: taskId }, 'repeated result not queued; the reconciler will queue the first one');
  }
}

/**
 * The agent holding the task's claim, refused when a token is bound to it (the caller's is not). With
 * no holder yet the script is told one no agent has, so a claim made in between is not answered blind.
 */
async function unboundHolder(deps: Pick<Deps, 'dispatch' | 'tokens'>, taskId: string): Promise<string> {
  const holder = await guard('Redis', () => deps.dispatch.holderOf(taskId));
  if (holder && deps.tokens.isBound(holder)) throw heldByBoundAgent(taskId);
  return holder ?? NO_HOLDER;
}

/**
 * Whether the refused outcome repeats the one that stands, sent for the agent that held the claim:
 * with a bound token, its agent's; without one, an agent no token is bound to.
 */
async function isRepeat(
  deps: Pick<Deps, 'tasks' | 'tokens'>,
  taskId: string,
  reply: Refused,
  outcome: TaskOutcome,
  boundAgent: string | undefined,
) {
  let first: TaskOutcome;
  let agentId: string | null;
  if (reply.state === 'answered') {
    // Failed by AFM (cancelled, expired, timed out, silent agent): no agent's outcome to repeat.
    if (!reply.byAgent) return false;
    ({ first, agentId } = reply);
  } else if (reply.state === 'done') {
    const task = await guard('Postgres', () => deps.tasks.find(taskId));
    // Failed by AFM (a timeout or silence keeps the agent's id): no agent's outcome to repeat.
    if (!task?.finished_at || task.agent_id === null || (task.failure ?? 'agent_error') !== 'agent_error') return false;
    first =
      task.state === 'completed'
        ? { state: 'completed', result: task.result ?? {} }
        : { state: 'failed', error: task.error ?? '', cause: task.failure };
    agentId = task.agent_id;
  } else {
    return false;
  }
  const sameAgent = boundAgent ? agentId === boundAgent : !(agentId && deps.tokens.isBound(agentId));
  return sameAgent && sameOutcome(first, outcome);
}

const sameOutcome = (first: TaskOutcome, again: TaskOutcome) =>
  first.state === 'completed'
    ? again.state === 'completed' && sameJson(asStored(first.result), asStored(again.result))
    : again.state === 'failed' && first.error === again.error;

/**
 * Redis knows nothing of the task: Postgres says whether it is unknown, unclaimed or finished. A task
 * Postgres sees as claimed and unfinished lost its claim in a Redis flush: the claim is rebuilt, and
 * its holder returned. 'repeat': the task is finished with this very outcome.
 */
async function restoreClaimFromPostgres(
  deps: Deps,
  taskId: string,
  outcome: TaskOutcome,
  boundAgent: string | undefined,
): Promise<string | 'repeat'> {
  const task = await guard('Postgres', () => deps.tasks.find(taskId));
  if (!task) throw new AfmError('AFM_ERR_UNKNOWN_TASK', `no task with task_id ${taskId}`);
  if (task.finished_at) {
    if (await isRepeat(deps, taskId, { accepted: false, state: 'done' }, outcome, boundAgent)) return 'repeat';
    throw refusal(taskId, 'done');
  }
  if (task.state !== 'claimed' || !task.agent_id || !task.claimed_at) throw refusal(taskId, 'waiting');
  if (!boundAgent && deps.tokens.isBound(task.agent_id)) throw heldByBoundAgent(taskId);
  const queue = taskQueueName(task.task_type, task.task_version, taskOptionsOf(task).task_location);
  await guard('Redis', () => deps.dispatch.restoreClaim(taskId, task.agent_id!, task.claimed_at!.getTime(), queue));
  return task.agent_id;
}

const heldByBoundAgent = (taskId: string) =>
  new AfmError('AFM_ERR_FORBIDDEN', `task ${taskId} is held by an agent with its own token; only that token may answer it`);

function refusal(taskId: string, state: Refused['state']): AfmError {
  if (state === 'other-agent') return new AfmError('AFM_ERR_FORBIDDEN', `task ${taskId} is held by another agent than this token's`);
  if (state === 'waiting' || state === 'missing') {
    return new AfmError('AFM_ERR_TASK_NOT_CLAIMED', `task ${taskId} has not been claimed by any agent`);
  }
  return new AfmError('AFM_ERR_TASK_FINISHED', `task ${taskId} already has a different result or error; the first one stands`);
}
