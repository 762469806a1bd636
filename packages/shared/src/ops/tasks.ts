/** Tasks as an operator sees them: one in full, or a filtered page, newest first (from Postgres). */
import type { Task } from '../db/schema.js';
import { findTask, findTasks, listTaskSizes, testRunCounts, testRunSizes, type TaskFilter } from '../db/tasks.js';
import type { LiveState } from '../dispatch/states.js';
import { AfmError } from '../errors.js';
import { decodeCursor, encodeCursor, type Page } from './cursor.js';
import type { OpsDeps } from './deps.js';

export type { Page } from './cursor.js';
export type { TaskFilter } from '../db/tasks.js';

/** What Redis knows that Postgres may not yet (a result accepted but not yet written). */
export interface TaskWithLiveState extends Task {
  live_state: LiveState | null;
}

export async function showTask(deps: Pick<OpsDeps, 'db' | 'dispatch'>, id: string): Promise<TaskWithLiveState> {
  const [task, liveState] = await Promise.all([findTask(deps.db, id), deps.dispatch.liveState(id)]);
  if (!task) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with task_id ${id}`);
  return { ...task, live_state: liveState };
}

/**
 * Most bytes of task data and results (as JSON) one list brings in: pages stop there, however many
 * items were asked for (at least one goes), since a page of large tasks would not fit a small heap.
 */
export const LIST_DATA_BYTES = 1_048_576;

/** How many of these rows fit LIST_DATA_BYTES (at least one). */
function fitting(sizes: { bytes: number }[]): number {
  let total = 0;
  for (const [index, row] of sizes.entries()) {
    total += row.bytes;
    if (index > 0 && total > LIST_DATA_BYTES) return index;
  }
  return sizes.length;
}

/** The tasks of these ids, in this order. */
const inOrder = async (deps: Pick<OpsDeps, 'db'>, ids: string[]): Promise<Task[]> =>
  (await findTasks(deps.db, ids)).filter((task): task is Task => task !== undefined);

export async function listTasks(
  deps: Pick<OpsDeps, 'db'>,
  filter: TaskFilter = {},
  { limit = 50, cursor }: { limit?: number; cursor?: string } = {},
): Promise<Page<Task>> {
  const candidates = await listTaskSizes(deps.db, filter, { ...(cursor ? { before: decodeCursor(cursor) } : {}), limit: limit + 1 });
  const count = Math.min(limit, fitting(candidates));
  const chosen = candidates.slice(0, count);
  const last = chosen[chosen.length - 1];
  return {
    items: await inOrder(
      deps,
      chosen.map((row) => row.id),
    ),
    next_cursor: candidates.length > count && last ? encodeCursor(last.posted_at, last.id) : null,
  };
}

export type TestRunSummary = Awaited<ReturnType<typeof testRunCounts>>;

/**
 * One test run (a BPMS process instance): counts per state over all its tasks, and its tasks, oldest
 * first — up to `limit` of them and LIST_DATA_BYTES of their data and results.
 */
export async function testRun(
  deps: Pick<OpsDeps, 'db'>,
  testId: string,
  limit = 1000,
): Promise<{ summary: TestRunSummary; tasks: Task[] }> {
  const [summary, sizes] = await Promise.all([testRunCounts(deps.db, testId), testRunSizes(deps.db, testId, limit)]);
  if (summary.total === 0) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with test_id ${testId}`);
  return {
    summary,
    tasks: await inOrder(
      deps,
      sizes.slice(0, fitting(sizes)).map((row) => row.id),
    ),
  };
}
