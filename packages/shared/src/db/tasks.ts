/**
 * Task repository: every query on the `tasks` table. Functions take the Kysely instance (or a
 * transaction) first, so callers decide on transactions.
 */
import { sql, type Kysely } from 'kysely';
import { batchedWrite, chunksByWeight } from '../batcher.js';
import { isStorageUnavailable } from '../errors.js';
import type { JsonObject } from '../protocol.js';
import { resultJson, type ResultJob, type TaskJob } from '../queues.js';
import type { FailureCause } from '../dispatch/states.js';
import type { Database, Task, TaskState } from './schema.js';

type Db = Kysely<Database>;

/**
 * Inserts newly posted tasks in one statement; for each, false when its id was ever used before: the
 * primary key makes this the one race-free duplicate check across replicas and across the whole
 * history (docs/protocol.md). Of two equal ids in one batch, the first is inserted.
 */
export async function insertTasks(db: Db, tasks: { task: TaskJob; postedAt: Date }[]): Promise<boolean[]> {
  if (tasks.length === 0) return [];
  // One array per column, unnested: the statement's text and its 11 parameters are the same for any
  // batch size, where a VALUES list of n rows has 11·n parameters for Postgres to parse.
  const column = <T>(value: (item: { task: TaskJob; postedAt: Date }) => T) => tasks.map(value);
  const { rows } = await sql<{ id: string }>`
    insert into tasks (id, test_id, task_type, task_version, task_data, posted_at, ttl_s, timeout_s, retries,
                       location_country, location_region)
    select id, test_id, task_type, task_version, task_data, posted_at, ttl_s, timeout_s, retries, location_country,
           location_region
    from unnest(
      ${column(({ task }) => task.task_id)}::uuid[],
      ${column(({ task }) => task.test_id)}::uuid[],
      ${column(({ task }) => task.task_type)}::text[],
      ${column(({ task }) => task.task_version)}::int[],
      ${column(({ task }) => JSON.stringify(task.task_data))}::jsonb[],
      ${column(({ postedAt }) => postedAt.toISOString())}::timestamptz[],
      ${column(({ task }) => task.task_ttl ?? null)}::float8[],
      ${column(({ task }) => task.task_timeout ?? null)}::float8[],
      ${column(({ task }) => task.task_retries ?? null)}::int[],
      ${column(({ task }) => task.task_location?.country ?? null)}::text[],
      ${column(({ task }) => task.task_location?.region ?? null)}::text[]
    ) with ordinality as t(id, test_id, task_type, task_version, task_data, posted_at, ttl_s, timeout_s, retries,
                            location_country, location_region, n)
    order by n -- of two equal ids, the first is inserted
    on conflict (id) do nothing
    returning id`.execute(db);
  const inserted = new Set(rows.map((row) => row.id));
  return tasks.map(({ task }) => inserted.delete(task.task_id.toLowerCase()));
}

export async function insertTask(db: Db, task: TaskJob, postedAt: Date): Promise<boolean> {
  const [inserted] = await insertTasks(db, [{ task, postedAt }]);
  return inserted!;
}

/**
 * TASK_RETENTION: deletes up to `limit` tasks posted and finished before `cutoff`, oldest first; how
 * many. One short statement per call, through the posting-time index; rows locked by anyone else are
 * skipped, so the hot path never waits on it.
 */
export async function deleteFinishedBefore(db: Db, cutoff: Date, limit: number): Promise<number> {
  const { rows } = await sql<{ deleted: string }>`
    with doomed as (
      select id from tasks
      where posted_at < ${cutoff} and finished_at < ${cutoff}
      order by posted_at
      limit ${limit}
      for update skip locked
    ), gone as (delete from tasks using doomed where tasks.id = doomed.id returning 1)
    select count(*) as deleted from gone`.execute(db);
  return Number(rows[0]?.deleted ?? 0);
}

export async function findTask(db: Db, id: string): Promise<Task | undefined> {
  return db.selectFrom('tasks').selectAll().where('id', '=', id).executeTakeFirst();
}

/** Many tasks by id in one query; in the order asked, undefined for unknown ids. */
export async function findTasks(db: Db, ids: string[]): Promise<(Task | undefined)[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .selectFrom('tasks')
    .selectAll()
    .where('id', '=', sql<string>`any(${ids}::uuid[])`)
    .execute();
  const byId = new Map(rows.map((row) => [row.id, row]));
  return ids.map((id) => byId.get(id.toLowerCase()));
}

/**
 * The rows of these tasks, locked in id order. Every batched update of tasks (outcomes, claims) takes
 * its row locks this way first: two batches sharing rows, each locking in its own order, deadlock
 * (the soak of issue 14 found one between the claims sync and a results batch).
 */
const lockInIdOrder = (ids: string[]) => sql`select id from tasks where id = any(${ids}::uuid[]) order by id for update`;

/**
 * Writes tasks' outcomes in one statement, each unless its task already has one: replaying a results
 * job changes nothing, and the first outcome stands. Fills in the claim when the claim's own sync has
 * not arrived yet. Returns, per job, whether it was written.
 */
export async function recordOutcomes(db: Db, jobs: ResultJob[]): Promise<boolean[]> {
  if (jobs.length === 0) return [];
  const time = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const result = await sql<{ id: string }>`
    with locked as materialized (${lockInIdOrder(jobs.map((job) => job.task_id))})
    update tasks set
      state = o.state,
      finished_at = o.finished_at,
      stored_at = now(),
      result = o.result,
      error = o.error,
      failure = o.failure,
      agent_id = coalesce(o.agent_id, tasks.agent_id),
      claimed_at = coalesce(o.claimed_at, tasks.claimed_at),
      attempts = greatest(tasks.attempts, coalesce(o.attempts, 0))
    from unnest(
      ${jobs.map((job) => job.task_id)}::uuid[],
      ${jobs.map((job) => job.outcome.state)}::text[],
      ${jobs.map((job) => time(job.finished_at))}::timestamptz[],
      ${jobs.map((job) => resultJson(job.outcome))}::jsonb[],
      ${jobs.map((job) => (job.outcome.state === 'failed' ? job.outcome.error : null))}::text[],
      ${jobs.map((job) => (job.outcome.state === 'failed' ? (job.outcome.cause ?? null) : null))}::text[],
      ${jobs.map((job) => job.agent_id)}::uuid[],
      ${jobs.map((job) => time(job.claimed_at))}::timestamptz[],
      ${jobs.map((job) => job.attempts ?? null)}::int[]
    ) as o(id, state, finished_at, result, error, failure, agent_id, claimed_at, attempts)
    where tasks.id = o.id and tasks.id in (select id from locked) and tasks.finished_at is null
    returning tasks.id`.execute(db);
  const written = new Set(result.rows.map((row) => row.id));
  return jobs.map((job) => written.has(job.task_id));
}

export async function recordOutcome(db: Db, job: ResultJob): Promise<boolean> {
  const [written] = await recordOutcomes(db, [job]);
  return written!;
}

export interface ClaimRecord {
  task_id: string;
  agent_id: string;
  claimed_at: number;
  attempts: number;
}

/** Records claims made in Redis; only tasks Postgres still sees as waiting change. */
export async function recordClaims(db: Db, claims: ClaimRecord[]): Promise<number> {
  if (claims.length === 0) return 0;
  const result = await sql`
    with locked as materialized (${lockInIdOrder(claims.map((claim) => claim.task_id))})
    update tasks set state = 'claimed', agent_id = c.agent_id, claimed_at = c.claimed_at, attempts = greatest(tasks.attempts, c.attempts)
    from unnest(
      ${claims.map((claim) => claim.task_id)}::uuid[],
      ${claims.map((claim) => claim.agent_id)}::uuid[],
      ${claims.map((claim) => new Date(claim.claimed_at).toISOString())}::timestamptz[],
      ${claims.map((claim) => claim.attempts)}::int[]
    ) as c(id, agent_id, claimed_at, attempts)
    where tasks.id = c.id and tasks.id in (select id from locked) and tasks.finished_at is null`.execute(db);
  return Number(result.numAffectedRows ?? 0n);
}

export type UnfinishedTask = Pick<
  Task,
  | 'id'
  | 'test_id'
  | 'task_type'
  | 'task_version'
  | 'state'
  | 'posted_at'
  | 'agent_id'
  | 'claimed_at'
  | 'ttl_s'
  | 'timeout_s'
  | 'retries'
  | 'attempts'
  | 'location_country'
  | 'location_region'
> & {
  /** Bytes of the task's task_data as JSON text (its data is fetched only when needed, see taskData). */
  data_bytes: number;
};

/**
 * Unfinished tasks posted in [from, to), in posting order, a page at a time (keyset on posted_at, id),
 * without their task_data: a page of large tasks would not fit a small heap. Served by the partial
 * index on unfinished tasks, so finished history costs nothing.
 */
export async function listUnfinished(
  db: Db,
  range: { from: Date; to: Date; after?: { posted_at: Date; id: string }; limit: number },
): Promise<UnfinishedTask[]> {
  let query = db
    .selectFrom('tasks')
    .select([
      'id',
      'test_id',
      'task_type',
      'task_version',
      'state',
      'posted_at',
      'agent_id',
      'claimed_at',
      'ttl_s',
      'timeout_s',
      'retries',
      'attempts',
      'location_country',
      'location_region',
    ])
    .select(sql<number>`octet_length(task_data::text)`.as('data_bytes'))
    .where('finished_at', 'is', null)
    .where('posted_at', '>=', range.from)
    .where('posted_at', '<', range.to);
  if (range.after) {
    const { posted_at, id } = range.after;
    query = query.where((eb) => eb.or([eb('posted_at', '>', posted_at), eb.and([eb('posted_at', '=', posted_at), eb('id', '>', id)])]));
  }
  return query.orderBy('posted_at').orderBy('id').limit(range.limit).execute();
}

/** Most bytes of task data (as JSON) fetched from Postgres in one query, where many tasks are read. */
export const DATA_BYTES_PER_QUERY = 1_048_576;

/** The task_data of tasks by id, fetched in queries of at most DATA_BYTES_PER_QUERY each. */
export async function* taskData(db: Db, tasks: { id: string; data_bytes: number }[]): AsyncGenerator<Map<string, JsonObject>> {
  for (const chunk of chunksByWeight(tasks, (task) => task.data_bytes, DATA_BYTES_PER_QUERY)) {
    const ids = chunk.map((task) => task.id);
    const rows = await db
      .selectFrom('tasks')
      .select(['id', 'task_data'])
      .where('id', '=', sql<string>`any(${ids}::uuid[])`)
      .execute();
    yield new Map(rows.map((row) => [row.id, row.task_data]));
  }
}

/** Most characters of results and errors in one statement of outcomes. */
export const OUTCOME_BATCH_BYTES = 4 * 1_048_576;

/** Filters of task lists (all optional). */
export interface TaskFilter {
  state?: TaskState;
  type?: string;
  version?: number;
  test_id?: string;
  agent_id?: string;
  /** Tasks bound to this country (task_location), upper case. */
  country?: string;
  /** Failed tasks that failed this way. */
  failure?: FailureCause;
  /** Posted at or after / before these times. */
  posted_after?: Date;
  posted_before?: Date;
}

/** Bytes of a task's data and result as JSON text. */
const dataBytes = sql<number>`octet_length(task_data::text) + coalesce(octet_length(result::text), 0)`;

/**
 * Tasks matching a filter, newest first (keyset on posted_at, id), without their data: ids, posting
 * times and sizes, so a list can choose how many it can afford to read in full (findTasks).
 */
export async function listTaskSizes(
  db: Db,
  filter: TaskFilter,
  { before, limit }: { before?: { at: Date; id: string }; limit: number },
): Promise<{ id: string; posted_at: Date; bytes: number }[]> {
  let query = db.selectFrom('tasks').select(['id', 'posted_at']).select(dataBytes.as('bytes'));
  if (filter.state) query = query.where('state', '=', filter.state);
  if (filter.type !== undefined) query = query.where('task_type', '=', filter.type);
  if (filter.version !== undefined) query = query.where('task_version', '=', filter.version);
  if (filter.test_id) query = query.where('test_id', '=', filter.test_id);
  if (filter.agent_id) query = query.where('agent_id', '=', filter.agent_id);
  if (filter.country) query = query.where('location_country', '=', filter.country);
  if (filter.failure) query = query.where('failure', '=', filter.failure);
  if (filter.posted_after) query = query.where('posted_at', '>=', filter.posted_after);
  if (filter.posted_before) query = query.where('posted_at', '<', filter.posted_before);
  if (before) query = query.where(sql<boolean>`(posted_at, id) < (${before.at}, ${before.id}::uuid)`);
  const rows = await query.orderBy('posted_at', 'desc').orderBy('id', 'desc').limit(limit).execute();
  return rows.map((row) => ({ ...row, bytes: Number(row.bytes) }));
}

/** The tasks of a test run, oldest first, without their data (as listTaskSizes). */
export async function testRunSizes(db: Db, testId: string, limit: number): Promise<{ id: string; bytes: number }[]> {
  const rows = await db
    .selectFrom('tasks')
    .select('id')
    .select(dataBytes.as('bytes'))
    .where('test_id', '=', testId)
    .orderBy('posted_at')
    .orderBy('id')
    .limit(limit)
    .execute();
  return rows.map((row) => ({ ...row, bytes: Number(row.bytes) }));
}

/** Counts of a test run's tasks per state, its first posting and, once all finished, its last finish. */
export async function testRunCounts(db: Db, testId: string) {
  const row = await db
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
    .executeTakeFirstOrThrow();
  return {
    total: Number(row.total),
    waiting: Number(row.waiting),
    claimed: Number(row.claimed),
    completed: Number(row.completed),
    failed: Number(row.failed),
    first_posted: row.first_posted as Date | null,
    last_finished: row.last_finished,
  };
}

/** Per agent: the tasks it holds now, and those it completed and failed. */
export async function countTasksByAgent(
  db: Db,
  agentIds: string[],
): Promise<Map<string, { assigned: number; completed: number; failed: number }>> {
  if (agentIds.length === 0) return new Map();
  const rows = await db
    .selectFrom('tasks')
    .select((eb) => [
      'agent_id',
      eb.fn.countAll<number>().filterWhere('state', '=', 'claimed').as('assigned'),
      eb.fn.countAll<number>().filterWhere('state', '=', 'completed').as('completed'),
      eb.fn.countAll<number>().filterWhere('state', '=', 'failed').as('failed'),
    ])
    .where('agent_id', '=', sql<string>`any(${agentIds}::uuid[])`)
    .groupBy('agent_id')
    .execute();
  return new Map(
    rows.map((row) => [row.agent_id!, { assigned: Number(row.assigned), completed: Number(row.completed), failed: Number(row.failed) }]),
  );
}

/**
 * The hot task queries of a process, shared by its concurrent requests: each call joins the next batch,
 * so Postgres sees one statement (and one round trip) for many requests.
 */
export interface TaskStore {
  insert(task: TaskJob, postedAt: Date): Promise<boolean>;
  find(id: string): Promise<Task | undefined>;
  recordOutcome(job: ResultJob): Promise<boolean>;
}

export function createTaskStore(db: Db): TaskStore {
  // One insert at a time: the next batch grows while it runs. A statement costs Postgres about the
  // same whether it carries 4 rows or 32 (BENCHMARKS.md, issue 14), so fewer, larger ones pay.
  const inserts = batchedWrite((items: { task: TaskJob; postedAt: Date }[]) => insertTasks(db, items), isStorageUnavailable, {
    maxInFlight: 1,
  });
  const reads = batchedWrite((ids: string[]) => findTasks(db, ids), isStorageUnavailable);
  // A statement of outcomes carries their results: a few megabytes of them at most.
  const outcomes = batchedWrite((jobs: ResultJob[]) => recordOutcomes(db, jobs), isStorageUnavailable, {
    weigh: (job) => (job.outcome.state === 'completed' ? (resultJson(job.outcome)?.length ?? 0) : job.outcome.error.length),
    maxWeight: OUTCOME_BATCH_BYTES,
  });
  return {
    insert: (task, postedAt) => inserts.push({ task, postedAt }),
    find: (id) => reads.push(id),
    recordOutcome: (job) => outcomes.push(job),
  };
}

/** The task options of a stored task, as a TaskJob carries them. */
export function taskOptionsOf(
  task: Pick<Task, 'ttl_s' | 'timeout_s' | 'retries' | 'location_country' | 'location_region'>,
): Partial<TaskJob> {
  return {
    ...(task.ttl_s !== null ? { task_ttl: task.ttl_s } : {}),
    ...(task.timeout_s !== null ? { task_timeout: task.timeout_s } : {}),
    ...(task.retries !== null ? { task_retries: task.retries } : {}),
    ...(task.location_country !== null
      ? { task_location: { country: task.location_country, ...(task.location_region !== null ? { region: task.location_region } : {}) } }
      : {}),
  };
}
