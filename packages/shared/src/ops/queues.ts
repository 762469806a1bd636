/**
 * The task queues as an operator sees them: per (type, version) waiting, in progress, oldest waiting
 * age, paused, and the fleet-wide event counts; pause, resume, drain. All from Redis, so every replica
 * and the CLI see the same numbers.
 */
import { submitResults } from '../dispatch/results.js';
import { AfmError } from '../errors.js';
import type { TaskLocation } from '../protocol.js';
import { bullKeys, parseTaskQueueName } from '../queues.js';
import type { OpsDeps } from './deps.js';

export const QUEUE_EVENTS = ['posted', 'claimed', 'completed', 'failed', 'expired', 'drained', 'retried', 'cancelled'] as const;
export type QueueEvent = (typeof QUEUE_EVENTS)[number];

export interface QueueSummary {
  queue: string;
  task_type: string;
  task_version: number;
  /** Tasks bound to a location (task_location) wait in a queue of their own. */
  location: TaskLocation | null;
  /** For a location's queue: active agents there able to run the type; 0 means its tasks wait for nobody. */
  active_agents: number | null;
  waiting: number;
  in_progress: number;
  /** Seconds since the oldest waiting task was posted; null when none waits. */
  oldest_waiting_age: number | null;
  paused: boolean;
  /** Tasks counted per event since Redis started keeping them. */
  events: Record<QueueEvent, number>;
}

type Deps = Pick<OpsDeps, 'db' | 'redis' | 'scripts' | 'taskQueues' | 'config'>;

export async function listQueues(deps: Deps, now = Date.now()): Promise<QueueSummary[]> {
  const names = await deps.taskQueues.names();
  if (names.length === 0) return [];
  const prefix = deps.taskQueues.prefix;
  const pipeline = deps.redis.pipeline();
  for (const name of names) {
    const keys = bullKeys(prefix, name);
    pipeline.llen(keys.wait);
    pipeline.lindex(keys.wait, -1);
    pipeline.hexists(keys.meta, 'paused');
  }
  pipeline.hgetall(deps.scripts.keys.inProgress);
  pipeline.hgetall(deps.scripts.keys.stats);
  const replies = ((await pipeline.exec()) ?? []).map(([error, value]) => {
    if (error) throw error;
    return value;
  });
  const inProgress = replies[3 * names.length] as Record<string, string>;
  const stats = replies[3 * names.length + 1] as Record<string, string>;

  const located = await activeAgentsByLocation(deps, names, now);
  const heads = names.map((_, index) => replies[3 * index + 1] as string | null);
  const timestamps = deps.redis.pipeline();
  names.forEach((name, index) => timestamps.hget(bullKeys(prefix, name).jobPrefix + (heads[index] ?? ''), 'timestamp'));
  const postedAt = ((await timestamps.exec()) ?? []).map(([, value]) => (value ? Number(value) : null));

  return names.flatMap((name, index) => {
    const parsed = parseTaskQueueName(name);
    if (!parsed) return [];
    const oldest = heads[index] ? postedAt[index] : null;
    return [
      {
        queue: name,
        task_type: parsed.type,
        task_version: parsed.version,
        location: parsed.location ?? null,
        active_agents: parsed.location ? (located.get(name) ?? 0) : null,
        waiting: replies[3 * index] as number,
        in_progress: Math.max(0, Number(inProgress[name] ?? 0)),
        oldest_waiting_age: oldest === null || oldest === undefined ? null : Math.max(0, (now - oldest) / 1000),
        paused: replies[3 * index + 2] === 1,
        events: Object.fromEntries(QUEUE_EVENTS.map((event) => [event, Number(stats[`${event}:${name}`] ?? 0)])) as Record<QueueEvent, number>,
      },
    ];
  });
}

/** Per location queue: the active agents in that country (and region) with the queue's capability. */
async function activeAgentsByLocation(deps: Deps, names: string[], now: number): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  const queues = names.flatMap((name) => {
    const parsed = parseTaskQueueName(name);
    return parsed?.location ? [{ name, ...parsed, location: parsed.location }] : [];
  });
  if (queues.length === 0) return counts;
  const rows = await deps.db
    .selectFrom('agents as a')
    .innerJoin('agent_capabilities as c', 'c.agent_id', 'a.id')
    .select((eb) => ['c.task_type', 'c.task_version', 'a.country', 'a.region', eb.fn.countAll<number>().as('agents')])
    .where('a.last_seen', '>=', new Date(now - deps.config.AGENT_ACTIVE_THRESHOLD * 1000))
    .where('a.country', 'is not', null)
    .groupBy(['c.task_type', 'c.task_version', 'a.country', 'a.region'])
    .execute();
  for (const queue of queues) {
    const { country, region } = queue.location;
    const matching = rows.filter(
      (row) =>
        row.task_type === queue.type &&
        row.task_version === queue.version &&
        row.country?.toUpperCase() === country &&
        (!region || row.region?.toUpperCase() === region),
    );
    counts.set(queue.name, matching.reduce((sum, row) => sum + Number(row.agents), 0));
  }
  return counts;
}

/** The queues of a task type: every version, or just `version`. A type with no queue is a usage error. */
async function queuesOf(deps: Deps, type: string, version?: number): Promise<QueueSummary[]> {
  const matching = (await listQueues(deps)).filter(
    (queue) => queue.task_type === type && (version === undefined || queue.task_version === version),
  );
  if (matching.length === 0) {
    throw new AfmError('AFM_ERR_VALIDATION', `no queue for task type ${JSON.stringify(type)}${version === undefined ? '' : ` version ${version}`}`);
  }
  return matching;
}

/** Stops handing out tasks of a type (all versions unless one is given); posting still works. */
export async function pauseQueues(deps: Deps, type: string, version?: number): Promise<string[]> {
  const queues = await queuesOf(deps, type, version);
  await Promise.all(queues.map((queue) => deps.taskQueues.byName(queue.queue).pause()));
  return queues.map((queue) => queue.queue);
}

export async function resumeQueues(deps: Deps, type: string, version?: number): Promise<string[]> {
  const queues = await queuesOf(deps, type, version);
  await Promise.all(queues.map((queue) => deps.taskQueues.byName(queue.queue).resume()));
  return queues.map((queue) => queue.queue);
}

/** Fails every waiting task of a type with `reason` (as task_error); returns how many per queue. */
export async function drainQueues(
  deps: Deps & Pick<OpsDeps, 'results'>,
  type: string,
  reason: string,
  version?: number,
): Promise<Record<string, number>> {
  const drained: Record<string, number> = {};
  for (const queue of await queuesOf(deps, type, version)) {
    let count = 0;
    for (;;) {
      const now = Date.now();
      const ids = await deps.scripts.drainQueue(queue.queue, reason, now, 500);
      await submitResults(
        deps.results,
        ids.map((id) => ({ task_id: id, outcome: { state: 'failed' as const, error: reason }, finished_at: now, agent_id: null, claimed_at: null })),
      );
      count += ids.length;
      if (ids.length < 500) break;
    }
    drained[queue.queue] = count;
  }
  return drained;
}
