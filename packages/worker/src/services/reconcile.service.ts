/**
 * The `reconcile` job: Redis is made whole from Postgres.
 *
 * - accepted outcomes whose results job went missing (an API crash right after accepting) → queued again;
 * - tasks that Postgres holds but Redis does not (an API crash between the two writes, a task posted
 *   while Redis was down, Redis losing its data) → queued again, or their claim restored.
 */
import { submitResult } from '@afm/shared/dispatch/results';
import { listUnfinished, taskData, taskOptionsOf, type UnfinishedTask } from '@afm/shared/db/tasks';
import type { JsonObject } from '@afm/shared/protocol';
import { bullKeys, jobOutcome, taskQueueName, type TaskOutcome } from '@afm/shared/queues';
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

type Deps = Pick<WorkerDeps, 'db' | 'redis' | 'scripts' | 'taskQueues' | 'results' | 'config' | 'logger'>;

/** Unsaved results, then missing tasks: each step runs even when the other fails. */
export const reconcile = (deps: Deps, now = Date.now(), graceMs = RECONCILE_GRACE_MS) =>
  runSteps({ results: () => requeueUnsavedResults(deps, now), tasks: () => reconcileTasks(deps, now, graceMs) });

/** Outcomes accepted in Redis whose results job is gone (API crash right after accepting) → queued again. */
export async function requeueUnsavedResults(deps: Deps, now: number): Promise<number> {
  const { redis, scripts } = deps;
  const ids = await redis.zrangebyscore(scripts.keys.unsaved, '-inf', now - UNSAVED_GRACE_MS, 'LIMIT', 0, BATCH);
  if (ids.length === 0) return 0;
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.hmget(scripts.keys.task(id), 'state', 'outcome', 'finished_at', 'agent', 'claimed_at');
  const replies = (await pipeline.exec()) ?? [];
  let requeued = 0;
  for (const [index, id] of ids.entries()) {
    const [state, outcome, finishedAt, agent, claimedAt] = (replies[index]?.[1] ?? []) as (string | null)[];
    if (state !== 'answered' || !outcome || !finishedAt) {
      await redis.zrem(scripts.keys.unsaved, id);
      continue;
    }
    // A job still pending under this id makes this a no-op.
    await submitResult(deps.results, {
      task_id: id,
      outcome: jobOutcome(JSON.parse(outcome) as TaskOutcome),
      finished_at: Number(finishedAt),
      agent_id: agent ?? null,
      claimed_at: claimedAt ? Number(claimedAt) : null,
    });
    requeued++;
  }
  return requeued;
}

/**
 * Every unfinished task in Postgres must be known to Redis: waiting in its queue, or claimed. The check
 * runs once per task, shortly after it was posted (a watermark remembers how far it got), and over all
 * unfinished tasks when Redis lost its data (the epoch key is gone).
 */
export async function reconcileTasks(deps: Deps, now: number, graceMs = RECONCILE_GRACE_MS): Promise<{ requeuedTasks: number; restoredClaims: number }> {
  const { redis, scripts } = deps;
  const prefix = deps.config.QUEUE_PREFIX;
  const [epoch, watermark] = await redis.mget(scripts.keys.epoch, scripts.keys.reconciled);
  const from = new Date(epoch && watermark ? Number(watermark) : 0);
  // Within graceMs of a rebuild (the epoch is its time), tasks posted just before it are checked soon.
  const rebuilding = !epoch || now - Number(epoch) < graceMs;
  const to = new Date(now - (rebuilding ? Math.min(graceMs, REBUILD_GRACE_MS) : graceMs));
  let requeuedTasks = 0;
  let restoredClaims = 0;
  let after: { posted_at: Date; id: string } | undefined;
  for (;;) {
    const tasks = await listUnfinished(deps.db, { from, to, limit: BATCH, ...(after ? { after } : {}) });
    if (tasks.length === 0) break;
    const pipeline = redis.pipeline();
    for (const task of tasks) {
      pipeline.exists(scripts.keys.task(task.id));
      pipeline.exists(bullKeys(prefix, taskQueueName(task.task_type, task.task_version, taskOptionsOf(task).task_location)).jobPrefix + task.id);
    }
    const replies = (await pipeline.exec()) ?? [];
    const missing = tasks.filter((_, index) => replies[2 * index]?.[1] !== 1 && replies[2 * index + 1]?.[1] !== 1);
    const toQueue: UnfinishedTask[] = [];
    for (const task of missing) {
      if (task.state === 'claimed' && task.agent_id && task.claimed_at) {
        const queue = taskQueueName(task.task_type, task.task_version, taskOptionsOf(task).task_location);
        if (await scripts.restoreClaim(task.id, task.agent_id, task.claimed_at.getTime(), queue)) restoredClaims++;
      } else {
        toQueue.push(task);
      }
    }
    // Their data is read a little at a time: a rebuild after Redis lost everything must fit any heap.
    for await (const data of taskData(deps.db, toQueue)) {
      for (const task of toQueue.filter((candidate) => data.has(candidate.id))) {
        await deps.taskQueues.enqueue(
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
  if (to > from) await redis.set(scripts.keys.reconciled, String(to.getTime()));
  if (!epoch) await redis.set(scripts.keys.epoch, String(now));
  if (requeuedTasks + restoredClaims > 0) {
    deps.logger.warn({ requeuedTasks, restoredClaims }, 'tasks missing from redis were restored from postgres');
  }
  return { requeuedTasks, restoredClaims };
}
