/**
 * Task repository: every query on the `tasks` table. Functions take the Kysely instance (or a
 * transaction) first, so callers decide on transactions.
 */
import { sql, type Kysely } from 'kysely';
import type { ResultJob, TaskJob } from '../queues.js';
import type { Database, Task } from './schema.js';

type Db = Kysely<Database>;

/**
 * Inserts a newly posted task. False when the id was ever used before: the primary key makes this the
 * one race-free duplicate check across replicas and across the whole history (SPEC §2.3).
 */
export async function insertTask(db: Db, task: TaskJob, postedAt: Date): Promise<boolean> {
  const inserted = await db
    .insertInto('tasks')
    .values({
      id: task.task_id,
      test_id: task.test_id,
      task_type: task.task_type,
      task_version: task.task_version,
      task_data: JSON.stringify(task.task_data),
      posted_at: postedAt,
    })
    .onConflict((oc) => oc.column('id').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

export async function findTask(db: Db, id: string): Promise<Task | undefined> {
  return db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Writes a task's outcome unless it already has one: replaying a results job changes nothing, and the
 * first outcome stands. Fills in the claim when the claim's own sync has not arrived yet.
 */
export async function recordOutcome(db: Db, job: ResultJob): Promise<boolean> {
  const { outcome } = job;
  const result = await db
    .updateTable('tasks')
    .set((eb) => ({
      state: outcome.state,
      finished_at: new Date(job.finished_at),
      result: outcome.state === 'completed' ? JSON.stringify(outcome.result) : null,
      error: outcome.state === 'failed' ? outcome.error : null,
      agent_id: eb.fn.coalesce('agent_id', eb.val(job.agent_id)),
      claimed_at: eb.fn.coalesce('claimed_at', eb.val(job.claimed_at === null ? null : new Date(job.claimed_at))),
    }))
    .where('id', '=', job.task_id)
    .where('finished_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export interface ClaimRecord {
  task_id: string;
  agent_id: string;
  claimed_at: number;
}

/** Records claims made in Redis; only tasks Postgres still sees as waiting change. */
export async function recordClaims(db: Db, claims: ClaimRecord[]): Promise<number> {
  if (claims.length === 0) return 0;
  const result = await sql`
    update tasks set state = 'claimed', agent_id = c.agent_id, claimed_at = c.claimed_at
    from unnest(
      ${claims.map((claim) => claim.task_id)}::uuid[],
      ${claims.map((claim) => claim.agent_id)}::uuid[],
      ${claims.map((claim) => new Date(claim.claimed_at).toISOString())}::timestamptz[]
    ) as c(id, agent_id, claimed_at)
    where tasks.id = c.id and tasks.state = 'waiting'`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

export type UnfinishedTask = Pick<Task, 'id' | 'test_id' | 'task_type' | 'task_version' | 'task_data' | 'state' | 'posted_at' | 'agent_id' | 'claimed_at'>;

/**
 * Unfinished tasks posted in [from, to), in posting order, a page at a time (keyset on posted_at, id).
 * Served by the partial index on unfinished tasks, so finished history costs nothing.
 */
export async function listUnfinished(
  db: Db,
  range: { from: Date; to: Date; after?: { posted_at: Date; id: string }; limit: number },
): Promise<UnfinishedTask[]> {
  let query = db
    .selectFrom('tasks')
    .select(['id', 'test_id', 'task_type', 'task_version', 'task_data', 'state', 'posted_at', 'agent_id', 'claimed_at'])
    .where('finished_at', 'is', null)
    .where('posted_at', '>=', range.from)
    .where('posted_at', '<', range.to);
  if (range.after) {
    const { posted_at, id } = range.after;
    query = query.where((eb) => eb.or([eb('posted_at', '>', posted_at), eb.and([eb('posted_at', '=', posted_at), eb('id', '>', id)])]));
  }
  return query.orderBy('posted_at').orderBy('id').limit(range.limit).execute();
}
