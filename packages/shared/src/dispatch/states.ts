/**
 * A task's life, as one state machine that both stores map to.
 *
 *   waiting ──claim──▶ claimed ──outcome──▶ answered ──stored──▶ done
 *      ▲                  │                    (result, error, cancel, expiry, timeout, silent agent)
 *      └──retry/release───┘
 *
 * Redis holds the live state of each task in its dispatch hash (`waiting` may also mean "no hash yet":
 * a plain task gets one when it is claimed); Postgres, the system of record, keeps `waiting`, `claimed`
 * and, from `answered` on, the outcome as `completed` or `failed` (db/schema.ts, TaskState): `answered`
 * is a task whose outcome Redis accepted and Postgres has not written yet. The Lua scripts move a task between
 * states with compare-and-set, so exactly one transition out of each state wins.
 */
/** States of a task in Redis (field `state` of its dispatch hash). */
export const LIVE_STATES = ['waiting', 'claimed', 'answered', 'done'] as const;
export type LiveState = (typeof LIVE_STATES)[number];

export const isLiveState = (value: string | null | undefined): value is LiveState =>
  (LIVE_STATES as readonly string[]).includes(value ?? '');

/**
 * What the scripts answer, decoded in one place (dispatch.ts): besides data, one of these words.
 * `missing`: Redis does not know the task; `other-agent`: held by another agent than the one required;
 * `rate-limited`: the agent polled too often this second.
 */
export const REPLY = {
  ok: 'ok',
  answered: 'answered',
  cancelled: 'cancelled',
  missing: 'missing',
  otherAgent: 'other-agent',
  rateLimited: 'RATE_LIMITED',
} as const;

/** Events counted per queue in Redis (`afm_tasks_<event>_total`): each way a task moves on, by cause. */
export const QUEUE_EVENTS = [
  'posted',
  'claimed',
  'completed',
  'failed',
  'ttl_expired',
  'timed_out',
  'agent_silent',
  'drained',
  'retried',
  'cancelled',
] as const;
export type QueueEvent = (typeof QUEUE_EVENTS)[number];

/**
 * Why a task failed, as stored with it (`tasks.failure`, `failure` in the API): the agent's own
 * task_error, or AFM's decision — task_ttl or task_timeout ended, the agent went silent, an operator
 * drained its queue or somebody cancelled it. Each is counted as the queue event it maps to.
 */
export const FAILURE_CAUSES = {
  agent_error: 'failed',
  ttl_expired: 'ttl_expired',
  timed_out: 'timed_out',
  agent_silent: 'agent_silent',
  drained: 'drained',
  cancelled: 'cancelled',
} as const satisfies Record<string, QueueEvent>;
export type FailureCause = keyof typeof FAILURE_CAUSES;
export const FAILURE_CAUSE_NAMES = Object.keys(FAILURE_CAUSES) as [FailureCause, ...FailureCause[]];

/** The events of tasks that ended without a result: an agent's error, or AFM's (expiry, timeout, silence, drain, cancel). */
export const FAILURE_EVENTS: readonly QueueEvent[] = Object.values(FAILURE_CAUSES);

/** An agent is active while it was seen within AGENT_ACTIVE_THRESHOLD: seen at or after this time (ms). */
export const activeSince = (now: number, thresholdSeconds: number): number => now - thresholdSeconds * 1000;
