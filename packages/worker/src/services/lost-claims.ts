/** What becomes of claims lost to a silent agent or to a task_timeout (cleanup and deadlines jobs). */
import type { LostClaim } from '@afm/shared/dispatch/scripts';
import type { WorkerDeps } from '../deps.js';

type Deps = Pick<WorkerDeps, 'dispatch' | 'logger'>;

/**
 * Claims lost to silence or a timeout: queues the failures for Postgres and wakes a poll for each task
 * that went back to its queue. `cause` is stored with each failed task and names the event logged. Returns how many failed.
 */
export async function settleLostClaims(
  deps: Deps,
  lost: LostClaim[],
  now: number,
  cause: 'agent_silent' | 'timed_out',
  why: string,
): Promise<number> {
  try {
    await deps.dispatch.submitLostClaims(lost, now, cause);
  } catch (error) {
    // The failures are accepted in Redis already; the reconcile job queues them again.
    deps.logger.warn({ err: error }, 'failed tasks not queued yet; the reconcile job will queue them');
  }
  for (const { taskId, agentId, error, attempts } of lost) {
    if (error === null) {
      deps.logger.info({ event: 'task.retried', task_id: taskId, agent_id: agentId, attempts }, `task back in its queue: ${why}`);
    } else {
      deps.logger.info({ event: `task.${cause}`, task_id: taskId, agent_id: agentId }, `task failed: ${why}`);
    }
  }
  const retried = lost.filter((claim) => claim.error === null);
  await deps.dispatch.wakeFor(retried.map((claim) => claim.taskId));
  return lost.length - retried.length;
}
