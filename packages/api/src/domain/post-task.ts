/**
 * docs/protocol.md — the BPMS posts a task: stored in Postgres (the system of record), then queued for agents.
 * An identical repeat of an accepted task is answered 200 and stores nothing, so a client or proxy may
 * retry; the same id with other content is a 400.
 */
import type { Task } from '@afm/shared/db/schema';
import { taskOptionsOf } from '@afm/shared/db/tasks';
import { AfmError } from '@afm/shared/errors';
import { asStored, sameJson } from '@afm/shared/json';
import type { TaskPost } from '@afm/shared/protocol';
import { normalizeLocation, type TaskJob } from '@afm/shared/queues';
import { assertSize } from './limits.js';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

/**
 * How long a stored task waits for Redis to take it. Past this (Redis down, or a queue this replica
 * has not used yet waiting for a connection) the post is answered 200 all the same: Postgres holds the
 * task, and the worker's reconciler queues it.
 */
export const ENQUEUE_BOUND_MS = 2_000;

type Deps = Pick<ApiDeps, 'tasks' | 'dispatch' | 'logger' | 'config'>;

export async function postTask(deps: Deps, posted: TaskPost): Promise<void> {
  assertSize('body.task_data', posted.task_data, deps.config.TASK_DATA_LIMIT);
  const task = posted.task_location ? { ...posted, task_location: normalizeLocation(posted.task_location) } : posted;
  const postedAt = Date.now();
  const inserted = await guard('Postgres', () => deps.tasks.insert(task, new Date(postedAt)));
  if (!inserted) {
    const stored = await guard('Postgres', () => deps.tasks.find(task.task_id));
    if (stored && sameTask(stored, task)) {
      deps.logger.debug({ task_id: task.task_id }, 'task posted again, identical: nothing to do');
      return;
    }
    throw new AfmError(
      'AFM_ERR_DUPLICATE_TASK',
      `task_id ${task.task_id} has been used before for another task; every task needs a new id`,
    );
  }
  let queued = true;
  try {
    await withinBound(deps.dispatch.post(task, postedAt), ENQUEUE_BOUND_MS);
  } catch (error) {
    // The task is durable in Postgres, so it is accepted: the worker's reconciler queues it once Redis answers.
    queued = false;
    deps.logger.warn({ err: error, task_id: task.task_id }, 'task stored but not queued yet; the reconciler will queue it');
  }
  // Queued, it is answered once the replicas REDIS_ACK_REPLICAS asks for hold it (a 503 otherwise,
  // and the identical repeat the client sends is a 200: Postgres has the task).
  if (queued) await deps.dispatch.acknowledged(postedAt);
  deps.logger.info(
    { event: 'task.posted', task_id: task.task_id, test_id: task.test_id, task_type: task.task_type, task_version: task.task_version },
    'task posted',
  );
}

/** Waits for `work` at most `ms`; what it does later is up to it (its failure is already handled). */
async function withinBound(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Redis did not take the task within ${ms} ms`)), ms);
  });
  work.catch(() => undefined);
  try {
    await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** The stored task is this one: same test, type, version, data (as JSON values) and options. */
function sameTask(stored: Task, task: TaskJob): boolean {
  const options = taskOptionsOf(stored);
  return (
    stored.test_id === task.test_id &&
    stored.task_type === task.task_type &&
    stored.task_version === task.task_version &&
    options.task_ttl === task.task_ttl &&
    options.task_timeout === task.task_timeout &&
    options.task_retries === task.task_retries &&
    sameJson(options.task_location ?? null, task.task_location ?? null) &&
    sameJson(stored.task_data, asStored(task.task_data))
  );
}
