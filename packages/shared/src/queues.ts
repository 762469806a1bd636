/**
 * Every queue name and job payload of AFM is defined here; Redis keys belong to the dispatch core
 * (dispatch/keys.ts).
 *
 * - One BullMQ queue per (task type, version) holds the tasks waiting for an agent.
 * - `results` carries accepted results and failures to the worker, which writes them to Postgres.
 * - `maintenance` runs the worker's repeatable jobs (worker/src/jobs/table.ts).
 */
import type { JsonObject, TaskLocation } from './protocol.js';
import type { FailureCause } from './dispatch/states.js';

export const RESULTS_QUEUE = 'results';
export const MAINTENANCE_QUEUE = 'maintenance';

const TASK_QUEUE_PATTERN = /^task\.([^.@~]+)\.v(-?\d+)(?:@([^.@~]+)(?:~([^.@~]+))?)?$/;

/** Queue names may not contain ':' (BullMQ) and must map back to one queue: separators are encoded too. */
const encode = (text: string) => encodeURIComponent(text).replaceAll('.', '%2E').replaceAll('~', '%7E');

/** Location codes compare without regard to case. */
export const normalizeLocation = (location: TaskLocation): TaskLocation => ({
  country: location.country.toUpperCase(),
  ...(location.region ? { region: location.region.toUpperCase() } : {}),
});

/**
 * The queue of a task type and version; tasks for a location (task_location) wait in a queue of their
 * own, `…@FI` or `…@FI~18`, which only agents in that country (and region) poll.
 */
export function taskQueueName(type: string, version: number, location?: TaskLocation): string {
  const base = `task.${encode(type)}.v${version}`;
  if (!location) return base;
  const { country, region } = normalizeLocation(location);
  return `${base}@${encode(country)}${region ? `~${encode(region)}` : ''}`;
}

export function parseTaskQueueName(name: string): { type: string; version: number; location?: TaskLocation } | undefined {
  const match = TASK_QUEUE_PATTERN.exec(name);
  if (!match) return undefined;
  const location = match[3]
    ? { country: decodeURIComponent(match[3]), ...(match[4] ? { region: decodeURIComponent(match[4]) } : {}) }
    : undefined;
  return { type: decodeURIComponent(match[1]!), version: Number(match[2]), ...(location ? { location } : {}) };
}

/** The queues an agent polls for one capability: the plain one, and those of its country and region. */
export function capabilityQueues(type: string, version: number, agentLocation?: { country: string; region: string }): string[] {
  if (!agentLocation) return [taskQueueName(type, version)];
  return [
    taskQueueName(type, version),
    taskQueueName(type, version, { country: agentLocation.country }),
    taskQueueName(type, version, { country: agentLocation.country, region: agentLocation.region }),
  ];
}

/** Payload of a job in a task queue: everything an agent needs, plus the task's test run and options. */
export interface TaskJob {
  task_id: string;
  test_id: string;
  task_type: string;
  task_version: number;
  task_data: JsonObject;
  task_ttl?: number | undefined;
  task_timeout?: number | undefined;
  task_retries?: number | undefined;
  task_location?: TaskLocation | undefined;
}

/**
 * How a task finished: an agent's result or error, or a failure decided by AFM (e.g. silent agent).
 * `cause` is null only in outcomes accepted before AFM recorded causes.
 */
export type TaskOutcome = { state: 'completed'; result: JsonObject } | { state: 'failed'; error: string; cause: FailureCause | null };

/**
 * An outcome as a results job carries it. A result travels as its JSON text (`result_json`), which the
 * worker hands to Postgres without parsing it: a result's parsed form can take twenty times its size,
 * and a worker holds a few hundred at once. (`result` as an object: jobs queued before this form.)
 */
export type JobOutcome = TaskOutcome | { state: 'completed'; result_json: string };

/** An outcome as Redis keeps it (JSON); one accepted before AFM recorded causes gets cause null. */
export function parseOutcome(json: string): TaskOutcome {
  const outcome = JSON.parse(json) as TaskOutcome;
  return outcome.state === 'failed' ? { ...outcome, cause: outcome.cause ?? null } : outcome;
}

export const jobOutcome = (outcome: TaskOutcome): JobOutcome =>
  outcome.state === 'completed' ? { state: 'completed', result_json: JSON.stringify(outcome.result) } : outcome;

/** The JSON text of a job's result, or null for a failure. */
export const resultJson = (outcome: JobOutcome): string | null =>
  outcome.state !== 'completed' ? null : 'result_json' in outcome ? outcome.result_json : JSON.stringify(outcome.result);

/** Payload of a `results` job: one finished task, written to Postgres idempotently by the worker. */
export interface ResultJob {
  task_id: string;
  outcome: JobOutcome;
  /** When AFM accepted the outcome (ms since epoch): the task's completion/failure time. */
  finished_at: number;
  agent_id: string | null;
  claimed_at: number | null;
  /** Times the task was handed out, when it had task_retries. */
  attempts?: number;
}

export type ResultsJobName = 'result';
/** The worker's repeatable jobs (worker/src/jobs/table.ts). */
export const MAINTENANCE_JOBS = ['sync', 'reconcile', 'deadlines', 'cleanup', 'retention', 'history'] as const;
export type MaintenanceJobName = (typeof MAINTENANCE_JOBS)[number];
