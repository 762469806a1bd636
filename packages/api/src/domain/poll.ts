/**
 * docs/protocol.md — an agent asks for tasks. One Redis script registers the agent (name, location and
 * capabilities replaced, last seen = now) and claims up to max_tasks tasks, oldest first across all
 * its capabilities — and, for an agent with a location, the queues of tasks bound to its country and
 * region. Postgres is not touched: the worker persists agents and claims from Redis.
 *
 * With `?wait=S` (issue 7) a poll that finds nothing waits up to S seconds for a task to be posted.
 */
import type { ClaimedJob } from '@afm/shared/dispatch/scripts';
import { AfmError } from '@afm/shared/errors';
import type { PollRequest, PollResponse } from '@afm/shared/protocol';
import { capabilityQueues, type TaskJob } from '@afm/shared/queues';
import { isoUtc } from '@afm/shared/time';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

type Deps = Pick<ApiDeps, 'dispatch' | 'config' | 'logger' | 'metrics' | 'notifications' | 'tokens'>;

export interface PollOptions {
  /** Seconds to wait for a task when none can be claimed at once (long poll). */
  wait?: number;
  /** Aborts when the agent hung up. */
  signal?: AbortSignal;
  /** The agent an agent token is bound to: the poll must be that agent's. */
  boundAgent?: string;
}

export async function pollTasks(deps: Deps, poll: PollRequest, { wait = 0, signal, boundAgent }: PollOptions = {}): Promise<PollResponse> {
  if (boundAgent && boundAgent !== poll.agent_id) {
    throw new AfmError('AFM_ERR_FORBIDDEN', `this token belongs to agent ${boundAgent}, not ${poll.agent_id}`);
  }
  // A bound agent's id is reserved for its token: no other token may take its tasks or spend its poll rate.
  if (!boundAgent && deps.tokens.isBound(poll.agent_id)) {
    throw new AfmError('AFM_ERR_FORBIDDEN', `agent ${poll.agent_id} has its own token; only that token may poll as it`);
  }
  const queues = Object.entries(poll.agent_capabilities).flatMap(([type, { version }]) =>
    capabilityQueues(type, version, poll.agent_location),
  );
  // More than the cap is not an error (agents treat a 4xx as fatal): they get at most the cap.
  const maxTasks = Math.min(poll.max_tasks, deps.config.MAX_TASKS_PER_POLL);
  let first = true;
  const started = Date.now();
  const claim = () =>
    guard('Redis', () =>
      deps.dispatch.claimTasks({
        agentId: poll.agent_id,
        name: poll.agent_name,
        location: poll.agent_location ? JSON.stringify(poll.agent_location) : '',
        capabilities: JSON.stringify(poll.agent_capabilities),
        agentTime: poll.agent_time,
        maxTasks,
        queues,
        now: Date.now(),
        // A long poll's claims after a wake-up are one poll: only the first counts against the limit.
        rateLimit: first ? ((first = false), deps.config.POLL_RATE_LIMIT) : 0,
      }),
    );

  let claimed = await claim();
  const deadline = Date.now() + wait * 1000;
  const aborted = signal ?? new AbortController().signal;
  while (claimed.length === 0 && maxTasks > 0 && Date.now() < deadline && !aborted.aborted) {
    const { ready, ended } = deps.notifications.waitForTask(queues, deadline - Date.now(), aborted);
    await guard('Redis', () => ready);
    claimed = await claim(); // a task posted while registering found nobody to wake
    if (claimed.length > 0) break;
    if ((await ended) !== 'woken') {
      claimed = await claim();
      break;
    }
    claimed = await claim();
  }
  if (claimed.length > 0 && aborted.aborted) {
    await giveBack(deps, poll.agent_id, claimed);
    claimed = [];
  }
  if (claimed.length > 0) {
    // Handed out only once the claims are replicated (REDIS_ACK_REPLICAS): otherwise a promoted replica
    // would not know them and hand the tasks out again. Not confirmed, they go back to their queues
    // (when Redis answers; otherwise they stay with the agent, like a poll whose answer was lost).
    try {
      await deps.dispatch.acknowledged(started);
    } catch (error) {
      await giveBack(deps, poll.agent_id, claimed).catch(() => undefined);
      throw error;
    }
    // The agent may have hung up during the wait.
    if (aborted.aborted) {
      await giveBack(deps, poll.agent_id, claimed);
      claimed = [];
    }
  }

  const now = Date.now();
  const tasks = claimed.map((claim) => {
    const job = JSON.parse(claim.data) as TaskJob;
    deps.metrics.observeClaimWait((now - claim.postedAt) / 1000);
    deps.logger.info({ event: 'task.claimed', task_id: job.task_id, agent_id: poll.agent_id }, 'task claimed');
    return { task_id: job.task_id, task_type: job.task_type, task_version: job.task_version, task_data: job.task_data };
  });
  return { tasks, return_time: isoUtc(now + deps.config.AGENT_RETURN_TIME * 1000) };
}

/** The agent hung up before it got its tasks: they go back to the front of their queues. */
export async function giveBack(deps: Pick<Deps, 'dispatch' | 'logger'>, agentId: string, claimed: ClaimedJob[]): Promise<void> {
  const tasks = claimed.map((claim) => ({
    taskId: (JSON.parse(claim.data) as TaskJob).task_id,
    data: claim.data,
    postedAt: claim.postedAt,
  }));
  for (const taskId of await deps.dispatch.giveBack(agentId, tasks)) {
    deps.logger.info({ event: 'task.released', task_id: taskId, agent_id: agentId }, 'task back in its queue: its poll went away');
  }
}
