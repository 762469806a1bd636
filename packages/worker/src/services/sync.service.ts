/**
 * Keeps Postgres (the system of record) in step with the hot state that polls and results leave in
 * Redis, and rebuilds Redis from Postgres when Redis lost data (SPEC §4). Runs as a repeatable job.
 *
 * - claims made by polls → tasks.state/agent_id/claimed_at;
 * - agents seen by polls → agents and agent_capabilities;
 * - accepted outcomes whose results job went missing → queued again;
 * - tasks that Postgres holds but Redis does not (an API crash between the two writes, a Redis flush)
 *   → queued again, or their claim restored.
 */
import { sql } from 'kysely';
import { submitResult } from '@afm/shared/dispatch/results';
import { listUnfinished, recordClaims, taskOptionsOf, type ClaimRecord } from '@afm/shared/db/tasks';
import type { AgentLocation, JsonObject } from '@afm/shared/protocol';
import { bullKeys, taskQueueName, type TaskOutcome } from '@afm/shared/queues';
import type { WorkerDeps } from '../deps.js';
import { enforceDeadlines } from './cleanup.service.js';

const BATCH = 1_000;
/** An outcome unsaved for this long has lost its results job (a job is written within milliseconds). */
const UNSAVED_GRACE_MS = 10_000;
/** Tasks younger than this may still be on their way from Postgres to Redis in an API replica. */
const RECONCILE_GRACE_MS = 30_000;

type Deps = Pick<WorkerDeps, 'db' | 'redis' | 'scripts' | 'taskQueues' | 'results' | 'config' | 'logger'>;

export interface SyncReport {
  claims: number;
  agents: number;
  requeuedResults: number;
  requeuedTasks: number;
  restoredClaims: number;
}

export async function sync(deps: Deps, now = Date.now()): Promise<SyncReport> {
  await enforceDeadlines(deps, now);
  const claims = await syncClaims(deps);
  const agents = await syncAgents(deps);
  const requeuedResults = await requeueUnsavedResults(deps, now);
  const { requeuedTasks, restoredClaims } = await reconcileTasks(deps, now);
  return { claims, agents, requeuedResults, requeuedTasks, restoredClaims };
}

/** Claims recorded by polls in Redis → Postgres. */
export async function syncClaims(deps: Deps): Promise<number> {
  const { redis, scripts } = deps;
  let total = 0;
  for (;;) {
    const ids = await redis.zrange(scripts.keys.claimsDirty, 0, BATCH - 1);
    if (ids.length === 0) return total;
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(scripts.keys.task(id), 'state', 'agent', 'claimed_at', 'attempts');
    const replies = (await pipeline.exec()) ?? [];
    const records: ClaimRecord[] = [];
    ids.forEach((id, index) => {
      const [state, agent, claimedAt, attempts] = (replies[index]?.[1] ?? []) as (string | null)[];
      // A task already answered gets its claim written with its outcome: one update instead of two.
      if (state === 'claimed' && agent && claimedAt) {
        records.push({ task_id: id, agent_id: agent, claimed_at: Number(claimedAt), attempts: Number(attempts ?? 1) });
      }
    });
    total += await recordClaims(deps.db, records);
    await redis.zrem(scripts.keys.claimsDirty, ...ids);
    if (ids.length < BATCH) return total;
  }
}

/** Agents seen by polls in Redis → Postgres (name, location, capabilities replaced; first/last seen). */
export async function syncAgents(deps: Deps): Promise<number> {
  const { redis, scripts } = deps;
  let total = 0;
  for (;;) {
    const ids = await redis.spop(scripts.keys.agentsDirty, BATCH);
    if (ids.length === 0) return total;
    try {
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hgetall(scripts.keys.agent(id));
      const replies = (await pipeline.exec()) ?? [];
      const agents = ids
        .map((id, index) => ({ id, hash: (replies[index]?.[1] ?? {}) as Record<string, string> }))
        .filter(({ hash }) => hash.last_seen !== undefined);
      await writeAgents(deps, agents);
      total += agents.length;
    } catch (error) {
      // Keep them dirty for the next run.
      await redis.sadd(scripts.keys.agentsDirty, ...ids);
      throw error;
    }
    if (ids.length < BATCH) return total;
  }
}

async function writeAgents(deps: Deps, agents: { id: string; hash: Record<string, string> }[]): Promise<void> {
  if (agents.length === 0) return;
  const rows = agents.map(({ id, hash }) => {
    const location = hash.location ? (JSON.parse(hash.location) as AgentLocation) : undefined;
    return {
      id,
      name: hash.name ?? '',
      country: location?.country ?? null,
      region: location?.region ?? null,
      latitude: location?.latitude ?? null,
      longitude: location?.longitude ?? null,
      first_seen: new Date(Number(hash.first_seen ?? hash.last_seen)),
      last_seen: new Date(Number(hash.last_seen)),
    };
  });
  const capabilities = agents.flatMap(({ id, hash }) =>
    Object.entries((hash.capabilities ? JSON.parse(hash.capabilities) : {}) as Record<string, { version: number }>).map(
      ([task_type, { version }]) => ({ agent_id: id, task_type, task_version: version }),
    ),
  );
  await deps.db.transaction().execute(async (trx) => {
    await trx
      .insertInto('agents')
      .values(rows)
      .onConflict((oc) =>
        oc.column('id').doUpdateSet((eb) => ({
          name: eb.ref('excluded.name'),
          country: eb.ref('excluded.country'),
          region: eb.ref('excluded.region'),
          latitude: eb.ref('excluded.latitude'),
          longitude: eb.ref('excluded.longitude'),
          first_seen: sql<Date>`least(agents.first_seen, excluded.first_seen)`,
          last_seen: sql<Date>`greatest(agents.last_seen, excluded.last_seen)`,
        })),
      )
      .execute();
    await trx.deleteFrom('agent_capabilities').where('agent_id', 'in', rows.map((row) => row.id)).execute();
    if (capabilities.length > 0) await trx.insertInto('agent_capabilities').values(capabilities).execute();
  });
}

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
      outcome: JSON.parse(outcome) as TaskOutcome,
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
export async function reconcileTasks(deps: Deps, now: number): Promise<{ requeuedTasks: number; restoredClaims: number }> {
  const { redis, scripts } = deps;
  const prefix = deps.config.QUEUE_PREFIX;
  const [epoch, watermark] = await redis.mget(scripts.keys.epoch, scripts.keys.reconciled);
  const from = new Date(epoch && watermark ? Number(watermark) : 0);
  const to = new Date(now - RECONCILE_GRACE_MS);
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
    for (const [index, task] of tasks.entries()) {
      const known = replies[2 * index]?.[1] === 1 || replies[2 * index + 1]?.[1] === 1;
      if (known) continue;
      if (task.state === 'claimed' && task.agent_id && task.claimed_at) {
        const queue = taskQueueName(task.task_type, task.task_version, taskOptionsOf(task).task_location);
        if (await scripts.restoreClaim(task.id, task.agent_id, task.claimed_at.getTime(), queue)) restoredClaims++;
      } else {
        await deps.taskQueues.enqueue(
          {
            task_id: task.id,
            test_id: task.test_id,
            task_type: task.task_type,
            task_version: task.task_version,
            task_data: task.task_data as JsonObject,
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
  await redis.set(scripts.keys.reconciled, String(to.getTime()));
  if (!epoch) await redis.set(scripts.keys.epoch, String(now));
  if (requeuedTasks + restoredClaims > 0) {
    deps.logger.warn({ requeuedTasks, restoredClaims }, 'tasks missing from redis were restored from postgres');
  }
  return { requeuedTasks, restoredClaims };
}
