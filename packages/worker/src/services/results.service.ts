/**
 * Writes finished tasks to Postgres (invariant 1, §4.4). Idempotent: a replayed job changes nothing, and
 * the first outcome stands. While Postgres is unreachable the job waits here, and is written when it
 * returns; nothing accepted is dropped.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { isStorageUnavailable } from '@afm/shared/errors';
import type { ResultJob } from '@afm/shared/queues';
import type { WorkerDeps } from '../deps.js';

/** How long a finished task's Redis tombstone answers late results and blocks stale job copies. */
export const TOMBSTONE_SECONDS = 600;

export async function recordResult(
  deps: Pick<WorkerDeps, 'tasks' | 'dispatch' | 'logger'>,
  job: ResultJob,
  signal?: AbortSignal,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      const written = await deps.tasks.recordOutcome(job);
      if (!written) deps.logger.debug({ task_id: job.task_id }, 'outcome already in postgres');
      break;
    } catch (error) {
      if (!isStorageUnavailable(error) || signal?.aborted) throw error;
      if (attempt === 0) deps.logger.warn({ err: error, task_id: job.task_id }, 'postgres unavailable; result waits');
      await sleep(Math.min(100 * 2 ** attempt, 2_000), undefined, signal ? { signal } : {});
    }
  }
  await deps.dispatch.finishTask(job.task_id, TOMBSTONE_SECONDS);
}
