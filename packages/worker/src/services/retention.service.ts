/**
 * TASK_RETENTION (README, Configuration): finished tasks posted and finished longer ago than the
 * retention are deleted from Postgres, a small batch per statement. A run stops after RUN_BUDGET_MS of
 * every RETENTION_EVERY_MS, so a large backlog of history (the first runs after turning it on) is worked
 * off over many runs at a tenth of the time, never in one long transaction nor at the hot path's
 * expense (docs/scaling.md: what full speed cost a burst); the hot path's rows (waiting and claimed
 * tasks) are never touched, and rows someone else has locked are skipped.
 *
 * A deleted task's id is forgotten with it: posted again, it is a new task (docs/protocol.md).
 */
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { deleteFinishedBefore } from '@afm/shared/db/tasks';
import type { WorkerDeps } from '../deps.js';

export const RETENTION_EVERY_MS = 10_000;
const RUN_BUDGET_MS = 1_000;
const BATCH = 2_000;

type Deps = Pick<WorkerDeps, 'db' | 'config' | 'logger'>;

export interface RetentionRun {
  deleted: number;
  batches: number;
  /** More old history remains: the budget ran out first. */
  more: boolean;
}

export async function enforceRetention(
  deps: Deps,
  now = Date.now(),
  { batch = BATCH, budgetMs = RUN_BUDGET_MS }: { batch?: number; budgetMs?: number } = {},
): Promise<RetentionRun> {
  const retention = deps.config.TASK_RETENTION;
  if (!retention) return { deleted: 0, batches: 0, more: false };
  const cutoff = new Date(now - retention * 1000);
  const started = performance.now();
  const run: RetentionRun = { deleted: 0, batches: 0, more: false };
  for (;;) {
    const deleted = await deleteFinishedBefore(deps.db, cutoff, batch);
    run.deleted += deleted;
    run.batches++;
    if (deleted < batch) break;
    if (performance.now() - started >= budgetMs) {
      run.more = true;
      break;
    }
    await yieldToLoop();
  }
  if (run.deleted > 0) {
    deps.logger.info(
      { event: 'tasks.retention', deleted: run.deleted, before: cutoff.toISOString(), more: run.more },
      `deleted ${run.deleted} finished tasks older than TASK_RETENTION`,
    );
  }
  return run;
}
