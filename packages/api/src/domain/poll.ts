/**
 * SPEC §2.1 — an agent asks for tasks. One Redis script registers the agent (name, location and
 * capabilities replaced, last seen = now) and claims up to max_tasks tasks, oldest first across all
 * its capabilities. Postgres is not touched: the worker persists agents and claims from Redis.
 */
import type { PollRequest, PollResponse } from '@afm/shared/protocol';
import { taskQueueName, type TaskJob } from '@afm/shared/queues';
import { isoUtc } from '@afm/shared/time';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

export async function pollTasks(deps: Pick<ApiDeps, 'scripts' | 'config' | 'logger' | 'metrics'>, poll: PollRequest): Promise<PollResponse> {
  const now = Date.now();
  const claimed = await guard('Redis', () =>
    deps.scripts.claimTasks({
      agentId: poll.agent_id,
      name: poll.agent_name,
      location: poll.agent_location ? JSON.stringify(poll.agent_location) : '',
      capabilities: JSON.stringify(poll.agent_capabilities),
      agentTime: poll.agent_time,
      maxTasks: poll.max_tasks,
      queues: Object.entries(poll.agent_capabilities).map(([type, { version }]) => taskQueueName(type, version)),
      now,
    }),
  );
  const tasks = claimed.map((claim) => {
    const job = JSON.parse(claim.data) as TaskJob;
    deps.metrics.observeClaimWait((now - claim.postedAt) / 1000);
    deps.logger.info({ event: 'task.claimed', task_id: job.task_id, agent_id: poll.agent_id }, 'task claimed');
    return { task_id: job.task_id, task_type: job.task_type, task_version: job.task_version, task_data: job.task_data };
  });
  return { tasks, return_time: isoUtc(now + deps.config.AGENT_RETURN_TIME * 1000) };
}
