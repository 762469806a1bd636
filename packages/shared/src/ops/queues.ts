/**
 * The task queues as an operator sees them: per (type, version) waiting, in progress, oldest waiting
 * age, paused, and the fleet-wide event counts, all from Redis, so every replica and the CLI see the
 * same numbers; with, from Postgres when it answers, the active agents able to take each queue's
 * tasks. Pause, resume and drain need Redis only.
 */
import { activeAgentsPerCapability, activeAgentsPerCapabilityAndLocation } from '../db/agent-capabilities.js';
import { QUEUE_EVENTS, type QueueEvent } from '../dispatch/states.js';
import { AfmError, isStorageUnavailable } from '../errors.js';
import type { TaskLocation } from '../protocol.js';
import { parseTaskQueueName } from '../queues.js';
import type { OpsDeps } from './deps.js';

export { QUEUE_EVENTS, type QueueEvent };

export interface QueueSummary {
  queue: string;
  task_type: string;
  task_version: number;
  /** Tasks bound to a location (task_location) wait in a queue of their own. */
  location: TaskLocation | null;
  /**
   * Active agents able to run the queue's tasks: with its type and version, and for a location's
   * queue, in that country (and region). Null when unknown (Postgres unreachable).
   */
  active_agents: number | null;
  /** active_agents === 0: a task posted or waiting here waits for nobody. Null when unknown. */
  no_capable_agent: boolean | null;
  waiting: number;
  in_progress: number;
  /** Seconds since the oldest waiting task was posted; null when none waits. */
  oldest_waiting_age: number | null;
  paused: boolean;
  /** Tasks counted per event since Redis started keeping them. */
  events: Record<QueueEvent, number>;
}

type Deps = Pick<OpsDeps, 'db' | 'dispatch'>;

export async function listQueues(deps: Deps, now = Date.now()): Promise<QueueSummary[]> {
  const states = await deps.dispatch.queueStates();
  if (states.length === 0) return [];
  const agents = await activeAgentsPerQueue(
    deps,
    states.map((state) => state.queue),
    now,
  );
  return states.flatMap((state) => {
    const parsed = parseTaskQueueName(state.queue);
    if (!parsed) return [];
    const active = agents ? (agents.get(state.queue) ?? 0) : null;
    return [
      {
        queue: state.queue,
        task_type: parsed.type,
        task_version: parsed.version,
        location: parsed.location ?? null,
        active_agents: active,
        no_capable_agent: active === null ? null : active === 0,
        waiting: state.waiting,
        in_progress: state.inProgress,
        oldest_waiting_age: state.oldestPostedAt === null ? null : Math.max(0, (now - state.oldestPostedAt) / 1000),
        paused: state.paused,
        events: state.events,
      },
    ];
  });
}

/**
 * Per queue: the active agents with its capability — in its country (and region) for a location's
 * queue, anywhere for a plain one (agents with a location poll the plain queues too). Undefined when
 * Postgres cannot be reached: the queues' own figures come from Redis and are still worth showing.
 */
async function activeAgentsPerQueue(deps: Deps, names: string[], now: number): Promise<Map<string, number> | undefined> {
  const queues = names.flatMap((name) => {
    const parsed = parseTaskQueueName(name);
    return parsed ? [{ name, ...parsed }] : [];
  });
  const since = new Date(deps.dispatch.activeSince(now));
  const located = queues.some((queue) => queue.location);
  let plain: Awaited<ReturnType<typeof activeAgentsPerCapability>>;
  let local: Awaited<ReturnType<typeof activeAgentsPerCapabilityAndLocation>>;
  try {
    [plain, local] = await Promise.all([
      activeAgentsPerCapability(deps.db, since),
      located ? activeAgentsPerCapabilityAndLocation(deps.db, since) : [],
    ]);
  } catch (error) {
    if (isStorageUnavailable(error)) return undefined;
    throw error;
  }
  const counts = new Map<string, number>();
  for (const queue of queues) {
    const capable = (row: { task_type: string; task_version: number }) =>
      row.task_type === queue.type && row.task_version === queue.version;
    if (!queue.location) {
      counts.set(queue.name, plain.find(capable)?.agents ?? 0);
      continue;
    }
    const { country, region } = queue.location;
    const matching = local.filter(
      (row) => capable(row) && row.country?.toUpperCase() === country && (!region || row.region?.toUpperCase() === region),
    );
    counts.set(
      queue.name,
      matching.reduce((sum, row) => sum + row.agents, 0),
    );
  }
  return counts;
}

/**
 * The queues of a task type: every version, or just `version`. A type with no queue is not found.
 * From Redis alone: pausing, resuming and draining work while Postgres is down.
 */
async function queuesOf(deps: Pick<OpsDeps, 'dispatch'>, type: string, version?: number): Promise<string[]> {
  const matching = (await deps.dispatch.queueNames()).filter((name) => {
    const parsed = parseTaskQueueName(name);
    return parsed?.type === type && (version === undefined || parsed.version === version);
  });
  if (matching.length === 0) {
    throw new AfmError(
      'AFM_ERR_QUEUE_NOT_FOUND',
      `no queue for task type ${JSON.stringify(type)}${version === undefined ? '' : ` version ${version}`}`,
    );
  }
  return matching;
}

/** Stops handing out tasks of a type (all versions unless one is given); posting still works. */
export async function pauseQueues(deps: Pick<OpsDeps, 'dispatch'>, type: string, version?: number): Promise<string[]> {
  const queues = await queuesOf(deps, type, version);
  await Promise.all(queues.map((queue) => deps.dispatch.pauseQueue(queue)));
  return queues;
}

export async function resumeQueues(deps: Pick<OpsDeps, 'dispatch'>, type: string, version?: number): Promise<string[]> {
  const queues = await queuesOf(deps, type, version);
  await Promise.all(queues.map((queue) => deps.dispatch.resumeQueue(queue)));
  return queues;
}

/** Fails every waiting task of a type with `reason` (as task_error); returns how many per queue. */
export async function drainQueues(
  deps: Pick<OpsDeps, 'dispatch'>,
  type: string,
  reason: string,
  version?: number,
): Promise<Record<string, number>> {
  const drained: Record<string, number> = {};
  for (const queue of await queuesOf(deps, type, version)) drained[queue] = await deps.dispatch.drain(queue, reason);
  return drained;
}
