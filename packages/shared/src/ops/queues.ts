/**
 * The task queues as an operator sees them: per (type, version) waiting, in progress, oldest waiting
 * age, paused, and the fleet-wide event counts; pause, resume, drain. All from Redis, so every replica
 * and the CLI see the same numbers.
 */
import { activeAgentsPerCapabilityAndLocation } from '../db/agent-capabilities.js';
import { QUEUE_EVENTS, type QueueEvent } from '../dispatch/states.js';
import { AfmError } from '../errors.js';
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

type Deps = Pick<OpsDeps, 'db' | 'dispatch'>;

export async function listQueues(deps: Deps, now = Date.now()): Promise<QueueSummary[]> {
  const states = await deps.dispatch.queueStates();
  if (states.length === 0) return [];
  const located = await activeAgentsByLocation(
    deps,
    states.map((state) => state.queue),
    now,
  );
  return states.flatMap((state) => {
    const parsed = parseTaskQueueName(state.queue);
    if (!parsed) return [];
    return [
      {
        queue: state.queue,
        task_type: parsed.type,
        task_version: parsed.version,
        location: parsed.location ?? null,
        active_agents: parsed.location ? (located.get(state.queue) ?? 0) : null,
        waiting: state.waiting,
        in_progress: state.inProgress,
        oldest_waiting_age: state.oldestPostedAt === null ? null : Math.max(0, (now - state.oldestPostedAt) / 1000),
        paused: state.paused,
        events: state.events,
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
  const rows = await activeAgentsPerCapabilityAndLocation(deps.db, new Date(deps.dispatch.activeSince(now)));
  for (const queue of queues) {
    const { country, region } = queue.location;
    const matching = rows.filter(
      (row) =>
        row.task_type === queue.type &&
        row.task_version === queue.version &&
        row.country?.toUpperCase() === country &&
        (!region || row.region?.toUpperCase() === region),
    );
    counts.set(
      queue.name,
      matching.reduce((sum, row) => sum + Number(row.agents), 0),
    );
  }
  return counts;
}

/** The queues of a task type: every version, or just `version`. A type with no queue is a usage error. */
async function queuesOf(deps: Deps, type: string, version?: number): Promise<QueueSummary[]> {
  const matching = (await listQueues(deps)).filter(
    (queue) => queue.task_type === type && (version === undefined || queue.task_version === version),
  );
  if (matching.length === 0) {
    throw new AfmError(
      'AFM_ERR_VALIDATION',
      `no queue for task type ${JSON.stringify(type)}${version === undefined ? '' : ` version ${version}`}`,
    );
  }
  return matching;
}

/** Stops handing out tasks of a type (all versions unless one is given); posting still works. */
export async function pauseQueues(deps: Deps, type: string, version?: number): Promise<string[]> {
  const queues = await queuesOf(deps, type, version);
  await Promise.all(queues.map((queue) => deps.dispatch.pauseQueue(queue.queue)));
  return queues.map((queue) => queue.queue);
}

export async function resumeQueues(deps: Deps, type: string, version?: number): Promise<string[]> {
  const queues = await queuesOf(deps, type, version);
  await Promise.all(queues.map((queue) => deps.dispatch.resumeQueue(queue.queue)));
  return queues.map((queue) => queue.queue);
}

/** Fails every waiting task of a type with `reason` (as task_error); returns how many per queue. */
export async function drainQueues(deps: Deps, type: string, reason: string, version?: number): Promise<Record<string, number>> {
  const drained: Record<string, number> = {};
  for (const queue of await queuesOf(deps, type, version)) drained[queue.queue] = await deps.dispatch.drain(queue.queue, reason);
  return drained;
}
