/** The `deadlines` job: tasks whose task_ttl or task_timeout ended (docs/extensions.md). */
import type { WorkerDeps } from '../deps.js';
import { runSteps } from '../jobs/steps.js';
import { settleLostClaims } from './lost-claims.js';

/** Most tasks handled per step and run. */
const PAGE = 500;

type Deps = Pick<WorkerDeps, 'dispatch' | 'logger'>;

/** Expired tasks, then timed-out claims: each step runs even when the other fails. */
export const deadlines = (deps: Deps, now = Date.now()) =>
  runSteps({ ttl: () => expireTasks(deps, now), timeouts: () => timeOutClaims(deps, now) });

/** Waiting tasks whose task_ttl ended fail as expired. */
export async function expireTasks(deps: Deps, now: number): Promise<number> {
  const expired = await deps.dispatch.expireTasks(now, PAGE);
  if (expired.length > 0) {
    await deps.dispatch.submitResults(
      expired.map(({ taskId, error }) => ({
        task_id: taskId,
        outcome: { state: 'failed' as const, error, cause: 'ttl_expired' as const },
        finished_at: now,
        agent_id: null,
        claimed_at: null,
      })),
    );
    for (const { taskId } of expired)
      deps.logger.info({ event: 'task.ttl_expired', task_id: taskId }, 'task failed: not claimed within its task_ttl');
  }
  return expired.length;
}

/** Claims whose task_timeout ended go back to their queue (retries left) or fail. */
export async function timeOutClaims(deps: Deps, now: number): Promise<number> {
  return settleLostClaims(deps, await deps.dispatch.timeoutTasks(now, PAGE), now, 'timed_out', 'no result within its task_timeout');
}
