/**
 * Every queue name, Redis key and job payload of AFM is built here and nowhere else (SPEC §4).
 *
 * - One BullMQ queue per (task type, version) holds the tasks waiting for an agent.
 * - `results` carries accepted results and failures to the worker, which writes them to Postgres.
 * - `maintenance` runs the worker's repeatable jobs (sync of hot state, cleanup).
 * - Keys under `<prefix>:afm:` hold the dispatch state machine of claimed tasks and the agent registry.
 */
import type { JsonObject, TaskLocation } from './protocol.js';

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
  const location = match[3] ? { country: decodeURIComponent(match[3]), ...(match[4] ? { region: decodeURIComponent(match[4]) } : {}) } : undefined;
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

/** BullMQ's own key layout for a queue (`<prefix>:<queue>:<suffix>`), used by AFM's Lua scripts. */
export function bullKeys(prefix: string, queue: string) {
  const base = `${prefix}:${queue}:`;
  return {
    /** Prefix of job hashes: job key = jobPrefix + jobId. */
    jobPrefix: base,
    wait: `${base}wait`,
    meta: `${base}meta`,
    events: `${base}events`,
  };
}

/** AFM's own Redis keys, all under `<prefix>:afm:`. */
export function afmKeys(prefix: string) {
  const base = `${prefix}:afm:`;
  return {
    /** Prefix of per-task dispatch hashes (state machine: claimed → answered → done). */
    taskPrefix: `${base}t:`,
    task: (taskId: string) => `${base}t:${taskId}`,
    /** Prefix of per-agent sets of held task ids. */
    heldPrefix: `${base}held:`,
    held: (agentId: string) => `${base}held:${agentId}`,
    /** Prefix of per-agent hashes (name, location, capabilities, first/last seen). */
    agentPrefix: `${base}a:`,
    agent: (agentId: string) => `${base}a:${agentId}`,
    /** Polls of an agent within one second (POLL_RATE_LIMIT). */
    pollRate: (agentId: string, second: number) => `${base}rate:${agentId}:${second}`,
    /** Sorted set agent id → last seen (ms). */
    agentsSeen: `${base}agents`,
    /** Sorted set worker process id → last heartbeat (ms). */
    workers: `${base}workers`,
    /** Hash maintenance job name → its health (JSON: last run, last success, failures in a row, cause). */
    jobs: `${base}jobs`,
    /** Runs of maintenance jobs, field `<job>:ok` or `<job>:failed`. */
    jobRuns: `${base}jobs:runs`,
    /** The same, only for agents holding tasks: what cleanup looks at, however many agents went away. */
    holders: `${base}holders`,
    /** Agents whose hot state Postgres has not seen yet. */
    agentsDirty: `${base}agents:dirty`,
    /** Sorted set task id → claim time (ms) of claims Postgres has not seen yet. */
    claimsDirty: `${base}claims:dirty`,
    /** Sorted set task id → acceptance time (ms) of results not yet written to Postgres. */
    unsaved: `${base}unsaved`,
    /** Fleet-wide event counters, field `<event>:<queue>` (posted, claimed, completed, failed, expired). */
    stats: `${base}stats`,
    /** Claimed, unfinished tasks per queue name. */
    inProgress: `${base}inprogress`,
    /** Set of the task queue names ever used, so counts and rebuilds can find them. */
    queues: `${base}queues`,
    /** Sorted set task id → the time its task_ttl ends, while it waits. */
    expiry: `${base}expiry`,
    /** Sorted set task id → the time its task_timeout ends, while an agent holds it. */
    deadlines: `${base}deadlines`,
    /** Sorted set per task queue of long polls waiting for a task (token → when the wait ends). */
    waiting: (queue: string) => `${base}waiting:${queue}`,
    /** Pub/sub channel of one API replica: the waiting poll (token) to wake. */
    wakeChannel: (replica: string) => `${base}wake:${replica}`,
    /** Sorted set task id → when the last `GET /task?wait` watching it ends. */
    watched: `${base}watched`,
    /** Pub/sub channel: ids of watched tasks whose outcome Postgres now holds. */
    finishedChannel: `${base}finished`,
    /** Present while Redis holds state rebuilt from (or consistent with) Postgres; absent after a flush. */
    epoch: `${base}epoch`,
    /** Posting time (ms) up to which the reconciler has verified that every task reached Redis. */
    reconciled: `${base}reconciled`,
  };
}
export type AfmKeys = ReturnType<typeof afmKeys>;

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

/** How a task finished: an agent's result or error, or a failure decided by AFM (e.g. silent agent). */
export type TaskOutcome =
  | { state: 'completed'; result: JsonObject }
  | { state: 'failed'; error: string };

/**
 * An outcome as a results job carries it. A result travels as its JSON text (`result_json`), which the
 * worker hands to Postgres without parsing it: a result's parsed form can take twenty times its size,
 * and a worker holds a few hundred at once. (`result` as an object: jobs queued before this form.)
 */
export type JobOutcome = TaskOutcome | { state: 'completed'; result_json: string };

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
export const MAINTENANCE_JOBS = ['sync', 'reconcile', 'deadlines', 'cleanup'] as const;
export type MaintenanceJobName = (typeof MAINTENANCE_JOBS)[number];
