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

export async function listTasks(
  deps: Pick<OpsDeps, 'db'>,
  filter: TaskFilter = {},
  { limit = 50, cursor }: { limit?: number; cursor?: string } = {},
): Promise<Page<Task>> {
  let query = deps.db.selectFrom('tasks').selectAll();
  if (filter.state) query = query.where('state', '=', filter.state);
  if (filter.type !== undefined) query = query.where('task_type', '=', filter.type);
  if (filter.version !== undefined) query = query.where('task_version', '=', filter.version);
  if (filter.test_id) query = query.where('test_id', '=', filter.test_id);
  if (filter.agent_id) query = query.where('agent_id', '=', filter.agent_id);
  if (cursor) {
    const after = decodeCursor(cursor);
    query = query.where(sql<boolean>`(posted_at, id) < (${after.at}, ${after.id}::uuid)`);
  }
  const rows = await query.orderBy('posted_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(last.posted_at, last.id) : null };
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

/** Every task of one test run (a BPMS process instance), oldest first, with counts per state. */
export async function testRun(deps: Pick<OpsDeps, 'db'>, testId: string, limit = 1000): Promise<{ summary: TestRunSummary; tasks: Task[] }> {
  const tasks = await deps.db.selectFrom('tasks').selectAll().where('test_id', '=', testId).orderBy('posted_at').orderBy('id').limit(limit).execute();
  if (tasks.length === 0) throw new AfmError('AFM_ERR_TASK_NOT_FOUND', `no task with test_id ${testId}`);
  const count = (state: TaskState) => tasks.filter((task) => task.state === state).length;
  const finished = tasks.map((task) => task.finished_at).filter((date): date is Date => date !== null);
  return {
    summary: {
      total: tasks.length,
      waiting: count('waiting'),
      claimed: count('claimed'),
      completed: count('completed'),
      failed: count('failed'),
      first_posted: tasks[0]!.posted_at,
      last_finished: finished.length === tasks.length ? new Date(Math.max(...finished.map((date) => date.getTime()))) : null,
    },
    tasks,
  };
}
