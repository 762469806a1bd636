/**
 * AFM's own Redis keys, all under `<prefix>:afm:` (BullMQ's are in bullmq.ts). Only the dispatch core
 * builds keys; everything else asks it (dispatch.ts).
 */

export function dispatchKeys(prefix: string) {
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
    /** Counter written before each WAIT of REDIS_ACK_REPLICAS: a replica holding it holds what came before. */
    fence: `${base}fence`,
    /** Sorted set of the worker's samples of every queue (JSON, scored by time in ms), HISTORY_HOURS long. */
    history: `${base}history`,
    /** Hash of one 10-s slot's request durations from every replica: field `<route>|<bucket bound>` → count. */
    latency: (slot: number) => `${base}latency:${slot}`,
    /** Posting time (ms) up to which the reconciler has verified that every task reached Redis. */
    reconciled: `${base}reconciled`,
  };
}
export type DispatchKeys = ReturnType<typeof dispatchKeys>;

/**
 * Every key of a deployment starts with this (the prefix is BullMQ's too): what `deleteDeployment`
 * removes. A SCAN pattern: glob characters of the prefix are escaped.
 */
export const deploymentPattern = (prefix: string) => `${prefix.replace(/[*?[\]\\]/g, '\\$&')}:*`;
