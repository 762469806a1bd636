/** Tasks as an operator sees them: one in full, or a filtered page, newest first (from Postgres). */
import { sql } from 'kysely';
import type { Task, TaskState } from '../db/schema.js';
import { AfmError } from '../errors.js';
import type { OpsDeps } from './deps.js';

export interface TaskFilter {
  state?: TaskState;
  type?: string;
  version?: number;
  test_id?: string;
  agent_id?: string;
}

export interface Page<T> {
  items: T[];
  /** Pass back to get the next page; null on the last one. */
  next_cursor: string | null;
}

/** What Redis knows that Postgres may not yet (a result accepted but not yet written). */
export interface TaskDetail extends Task {
  live_state: string | null;
}

const encodeCursor = (postedAt: Date, id: string) => Buffer.from(JSON.stringify([postedAt.getTime(), id])).toString('base64url');

function decodeCursor(cursor: string): { postedAt: Date; id: string } {
  try {
    const [ms, id] = JSON.parse(Buffer.from(cursor, 'base64url').toString()) as [number, string];
    if (typeof ms !== 'number' || typeof id !== 'string') throw new Error('shape');
    return { postedAt: new Date(ms), id };
  } catch {
    throw new AfmError('AFM_ERR_VALIDATION', 'cursor: not a cursor returned by this API');
  }
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
    const { postedAt, id } = decodeCursor(cursor);
    query = query.where(sql<boolean>`(posted_at, id) < (${postedAt}, ${id}::uuid)`);
  }
  const rows = await query.orderBy('posted_at', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const items = rows.slice(0, limit);
  const last = items[items.length - 1];
  return { items, next_cursor: rows.length > limit && last ? encodeCursor(last.posted_at, last.id) : null };
}
