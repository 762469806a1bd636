/** What becomes of claims lost to a silent agent or to a task_timeout (cleanup and deadlines jobs). */
import { submitLostClaims } from '@afm/shared/dispatch/results';
import type { LostClaim } from '@afm/shared/dispatch/scripts';
import type { WorkerDeps } from '../deps.js';

type Deps = Pick<WorkerDeps, 'redis' | 'scripts' | 'results' | 'logger'>;

/**
 * Claims lost to silence or a timeout: queues the failures for Postgres and wakes a poll for each task
 * that went back to its queue. Returns how many failed.
 */
export async function settleLostClaims(deps: Deps, lost: LostClaim[], now: number, why: string): Promise<number> {
  try {
    await submitLostClaims(deps.results, lost, now);
  } catch (error) {
    // The failures are accepted in Redis already; the reconcile job queues them again.
    deps.logger.warn({ err: error }, 'failed tasks not queued yet; the reconcile job will queue them');
  }
  for (const { taskId, agentId, error, attempts } of lost) {
    if (error === null) {
      deps.logger.info({ event: 'task.retried', task_id: taskId, agent_id: agentId, attempts }, `task back in its queue: ${why}`);
    } else {
      deps.logger.info({ event: 'task.expired', task_id: taskId, agent_id: agentId }, `task failed: ${why}`);
    }
  }
  const retried = lost.filter((claim) => claim.error === null);
  if (retried.length > 0) await wakeFor(deps, retried.map((claim) => claim.taskId));
  return lost.length - retried.length;
}

/** Wakes a long poll for each of these tasks, back in their queues. */
async function wakeFor(deps: Deps, taskIds: string[]): Promise<void> {
  const pipeline = deps.redis.pipeline();
  for (const id of taskIds) pipeline.hget(deps.scripts.keys.task(id), 'queue');
  const queues = ((await pipeline.exec()) ?? []).map(([, queue]) => queue as string | null);
  await Promise.all(queues.map((queue) => (queue ? deps.scripts.wakeOne(queue) : undefined)));
}

