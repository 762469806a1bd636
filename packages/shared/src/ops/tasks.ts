/** Tasks as an operator sees them: one in full, or a filtered page, newest first (from Postgres). */
import { sql } from 'kysely';
import type { Task, TaskState } from '../db/schema.js';
import { AfmError } from '../errors.js';
import { decodeCursor, encodeCursor, type Page } from './cursor.js';
import type { OpsDeps } from './deps.js';

export type { Page } from './cursor.js';

export interface TaskFilter {
  state?: TaskState;
  type?: string;
  version?: number;
  test_id?: string;
  agent_id?: string;
}


/** What Redis knows that Postgres may not yet (a result accepted but not yet written). */
export interface TaskDetail extends Task {
  live_state: string | null;
}


export async function showTask(deps: Pick<OpsDeps, 'db' | 'redis' | 'scripts'>, id: string): Promise<TaskDetail> {
  const [task, liveState] = await Promise.all([
    deps.db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst(),
    deps.redis.hget(deps.scripts.keys.task(id), 'state'),
  ]);
  if (!task) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with task_id ${id}`);
  return { ...task, live_state: liveState };
}

/**
 * Most bytes of task data and results (as JSON) one list brings in: pages stop there, however many
 * items were asked for (at least one goes), since a page of large tasks would not fit a small heap.
 */
export const LIST_DATA_BYTES = 1_048_576;

const dataBytes = sql<number>`octet_length(task_data::text) + coalesce(octet_length(result::text), 0)`;

/** The rows of these ids, in this order (the second step of a list that chose its rows by size). */
async function rowsInOrder(deps: Pick<OpsDeps, 'db'>, ids: string[]): Promise<Task[]> {
  if (ids.length === 0) return [];
  const rows = await deps.db.selectFrom('tasks').selectAll().where('id', '=', sql<string>`any(${ids}::uuid[])`).execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.flatMap((id) => byId.get(id) ?? []);
}

/** How many of these rows fit LIST_DATA_BYTES (at least one). */
function fitting(sizes: { bytes: number }[]): number {
  let total = 0;
  for (const [index, row] of sizes.entries()) {
    total += Number(row.bytes);
    if (index > 0 && total > LIST_DATA_BYTES) return index;
  }
  return sizes.length;
}

export async function listTasks(
  deps: Pick<OpsDeps, 'db'>,
  filter: TaskFilter = {},
  { limit = 50, cursor }: { limit?: number; cursor?: string } = {},
): Promise<Page<Task>> {
  let query = deps.db.selectFrom('tasks').select(['id', 'posted_at']).select(dataBytes.as('bytes'));
  if (filter.state) query = query.where('state', '=', filter.state);
  if (filter.type !== undefined) query = query.where('task_type', '=', filter.type);
  if (filter.version !== undefined) query = query.where('task_version', '=', filter.version);
  if (filter.test_id) query = query.where('test_id', '=', filter.test_id);
  if (filter.agent_id) query = query.where('agent_id', '=', filter.agent_id);
  if (cursor) {
    const after = decodeCursor(cursor);
    query = query.where(sql<boolean>`(posted_at, id) < (${after.at}, ${after.id}::uuid)`);
  }
  const candidates = await query.orderBy('posted_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const count = Math.min(limit, fitting(candidates));
  const chosen = candidates.slice(0, count);
  const last = chosen[chosen.length - 1];
  return {
    items: await rowsInOrder(deps, chosen.map((row) => row.id)),
    next_cursor: candidates.length > count && last ? encodeCursor(last.posted_at, last.id) : null,
  };
}

export interface TestRunSummary {
  total: number;
  waiting: number;
  claimed: number;
  completed: number;
  failed: number;
  first_posted: Date | null;
  last_finished: Date | null;
}

/**
 * One test run (a BPMS process instance): counts per state over all its tasks, and its tasks, oldest
 * first — up to `limit` of them and LIST_DATA_BYTES of their data and results.
 */
export async function testRun(deps: Pick<OpsDeps, 'db'>, testId: string, limit = 1000): Promise<{ summary: TestRunSummary; tasks: Task[] }> {
  const [counts, sizes] = await Promise.all([
    deps.db
      .selectFrom('tasks')
      .select((eb) => [
        eb.fn.countAll<number>().as('total'),
        sql<number>`count(*) filter (where state = 'waiting')`.as('waiting'),
        sql<number>`count(*) filter (where state = 'claimed')`.as('claimed'),
        sql<number>`count(*) filter (where state = 'completed')`.as('completed'),
        sql<number>`count(*) filter (where state = 'failed')`.as('failed'),
        eb.fn.min('posted_at').as('first_posted'),
        sql<Date | null>`case when count(*) = count(finished_at) then max(finished_at) end`.as('last_finished'),
      ])
      .where('test_id', '=', testId)
      .executeTakeFirstOrThrow(),
    deps.db.selectFrom('tasks').select('id').select(dataBytes.as('bytes')).where('test_id', '=', testId).orderBy('posted_at').orderBy('id').limit(limit).execute(),
  ]);
  if (Number(counts.total) === 0) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with test_id ${testId}`);
  const tasks = await rowsInOrder(deps, sizes.slice(0, fitting(sizes)).map((row) => row.id));
  return {
    summary: {
      total: Number(counts.total),
      waiting: Number(counts.waiting),
      claimed: Number(counts.claimed),
      completed: Number(counts.completed),
      failed: Number(counts.failed),
      first_posted: counts.first_posted as Date | null,
      last_finished: counts.last_finished,
    },
    tasks,
  };
}
