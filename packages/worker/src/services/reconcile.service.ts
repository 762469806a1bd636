/**
 * The `reconcile` job: Redis is made whole from Postgres.
 *
 * - accepted outcomes whose results job went missing (an API crash right after accepting) → queued again;
 * - tasks that Postgres holds but Redis does not (an API crash between the two writes, a task posted
 *   while Redis was down, Redis losing its data) → queued again, or their claim restored.
 */
import { listUnfinished, taskData, taskOptionsOf, type UnfinishedTask } from '@afm/shared/db/tasks';
import type { JsonObject } from '@afm/shared/protocol';
import { taskQueueName } from '@afm/shared/queues';
import type { WorkerDeps } from '../deps.js';
import { runSteps } from '../jobs/steps.js';

const BATCH = 1_000;
/** An outcome unsaved for this long has lost its results job (a job is written within milliseconds). */
const UNSAVED_GRACE_MS = 10_000;
/**
 * Tasks younger than this may still be on their way from Postgres to Redis in an API replica; the
 * margin also covers clocks of replicas and workers that disagree by as much.
 */
export const RECONCILE_GRACE_MS = 30_000;
/**
 * After Redis lost its data every unfinished task is rebuilt at once, but for those younger than this —
 * a replica may still be queueing them (it waits up to 2 s for Redis, post-task.ts) — which follow as
 * they reach this age.
 */
export const REBUILD_GRACE_MS = 5_000;

type Deps = Pick<WorkerDeps, 'db' | 'dispatch' | 'logger'>;

/** Unsaved results, then missing tasks: each step runs even when the other fails. */
export const reconcile = (deps: Deps, now = Date.now(), graceMs = RECONCILE_GRACE_MS) =>
  runSteps({ results: () => requeueUnsavedResults(deps, now), tasks: () => reconcileTasks(deps, now, graceMs) });

/** Outcomes accepted in Redis whose results job is gone (API crash right after accepting) → queued again. */
export async function requeueUnsavedResults(deps: Deps, now: number): Promise<number> {
  let requeued = 0;
  for (const { job } of await deps.dispatch.unsavedOutcomes(now - UNSAVED_GRACE_MS, BATCH)) {
    if (!job) continue;
    // A job still pending under this id makes this a no-op.
    await deps.dispatch.submitResult(job);
    requeued++;
  }
  return requeued;
}

/**
 * Every unfinished task in Postgres must be known to Redis: waiting in its queue, or claimed. The check
 * runs once per task, shortly after it was posted (a watermark remembers how far it got), and over all
 * unfinished tasks when Redis lost its data (the epoch key is gone).
 */
export async function reconcileTasks(
  deps: Deps,
  now: number,
  graceMs = RECONCILE_GRACE_MS,
): Promise<{ requeuedTasks: number; restoredClaims: number }> {
  const { dispatch } = deps;
  const { epoch, watermark } = await dispatch.reconcileMarks();
  const from = new Date(epoch !== null && watermark !== null ? watermark : 0);
  // Within graceMs of a rebuild (the epoch is its time), tasks posted just before it are checked soon.
  const rebuilding = epoch === null || now - epoch < graceMs;
  const to = new Date(now - (rebuilding ? Math.min(graceMs, REBUILD_GRACE_MS) : graceMs));
  let requeuedTasks = 0;
  let restoredClaims = 0;
  let after: { posted_at: Date; id: string } | undefined;
  for (;;) {
    const tasks = await listUnfinished(deps.db, { from, to, limit: BATCH, ...(after ? { after } : {}) });
    if (tasks.length === 0) break;
    const located = tasks.map((task) => ({
      ...task,
      queue: taskQueueName(task.task_type, task.task_version, taskOptionsOf(task).task_location),
    }));
    const toQueue: UnfinishedTask[] = [];
    for (const task of await dispatch.unknownTasks(located)) {
      if (task.state === 'claimed' && task.agent_id && task.claimed_at) {
        if (await dispatch.restoreClaim(task.id, task.agent_id, task.claimed_at.getTime(), task.queue)) restoredClaims++;
      } else {
        toQueue.push(task);
      }
    }
    // Their data is read a little at a time: a rebuild after Redis lost everything must fit any heap.
    for await (const data of taskData(deps.db, toQueue)) {
      for (const task of toQueue.filter((candidate) => data.has(candidate.id))) {
        await dispatch.enqueue(
          {
            task_id: task.id,
            test_id: task.test_id,
            task_type: task.task_type,
            task_version: task.task_version,
            task_data: data.get(task.id) as JsonObject,
            ...taskOptionsOf(task),
          },
          task.posted_at.getTime(),
        );
        requeuedTasks++;
      }
    }
    const last = tasks[tasks.length - 1]!;
    after = { posted_at: last.posted_at, id: last.id };
    if (tasks.length < BATCH) break;
  }
  // The watermark never goes back (a rebuild may have checked past now - graceMs).
  if (to > from) await dispatch.setWatermark(to.getTime());
  if (epoch === null) await dispatch.markRebuilt(now);
  if (requeuedTasks + restoredClaims > 0) {
    deps.logger.warn({ requeuedTasks, restoredClaims }, 'tasks missing from redis were restored from postgres');
  }
  return { requeuedTasks, restoredClaims };
}
