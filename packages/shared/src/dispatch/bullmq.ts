/**
 * What AFM relies on of BullMQ's private Redis layout — the one place that knows it. Tasks are BullMQ
 * jobs (added, counted, paused and drained with BullMQ's own API), but claims take them from the wait
 * list in a Lua script, and a retried task is put back there by hand. BullMQ does not promise this
 * layout: `packages/shared/test/bullmq-layout.test.ts` checks every fact below against the installed
 * release (package.json pins it exactly), so a version bump is decided by a test run. The Lua scripts
 * read these names from the include generated here (`luaInclude`), never from literals of their own.
 */

/** Keys of one queue: `<prefix>:<queue>:<suffix>`; a job's hash is `<prefix>:<queue>:<job id>`. */
export const QUEUE_KEY = {
  /** List of waiting job ids; BullMQ takes the next job from its right end (RPOPLPUSH/LMOVE). */
  wait: 'wait',
  /** Hash of queue settings; a field `paused` exists while the queue is paused. */
  meta: 'meta',
  events: 'events',
} as const;

/** Field of the meta hash present while the queue is paused. */
export const META_PAUSED = 'paused';

/** Fields of a job hash AFM reads or writes (BullMQ's storeJob writes them on add). */
export const JOB_FIELD = {
  name: 'name',
  /** The job's data, as JSON. */
  data: 'data',
  opts: 'opts',
  /** When the job was added (ms): AFM passes the posting time, claims order by it. */
  timestamp: 'timestamp',
  delay: 'delay',
  priority: 'priority',
} as const;

/** Suffix of a job's log list, `<job key>:logs`. */
export const JOB_LOGS_SUFFIX = 'logs';

/** The keys of one BullMQ queue. */
export function queueKeys(prefix: string, queue: string) {
  const base = `${prefix}:${queue}:`;
  return {
    /** Prefix of job hashes: job key = jobPrefix + job id. */
    jobPrefix: base,
    wait: base + QUEUE_KEY.wait,
    meta: base + QUEUE_KEY.meta,
    events: base + QUEUE_KEY.events,
  };
}

/** The layout as Lua, for the scripts' `--- @include "bullmq"`. */
export function luaInclude(): string {
  const lua = (text: string) => JSON.stringify(text);
  return `-- BullMQ's private layout, generated from src/dispatch/bullmq.ts (checked by test/bullmq-layout.test.ts).
local function bullKey(bullPrefix, queue, suffix) return bullPrefix .. ":" .. queue .. ":" .. suffix end
local function bullWait(bullPrefix, queue) return bullKey(bullPrefix, queue, ${lua(QUEUE_KEY.wait)}) end
local function bullMeta(bullPrefix, queue) return bullKey(bullPrefix, queue, ${lua(QUEUE_KEY.meta)}) end
local BULL_PAUSED, BULL_DATA, BULL_TIMESTAMP = ${lua(META_PAUSED)}, ${lua(JOB_FIELD.data)}, ${lua(JOB_FIELD.timestamp)}
local function bullDeleteJob(jobKey) return rcall("DEL", jobKey, jobKey .. ":" .. ${lua(JOB_LOGS_SUFFIX)}) end
-- A job hash as BullMQ's storeJob writes it for a plain add.
local function bullStoreJob(jobKey, name, data, timestamp)
  rcall("HSET", jobKey, ${lua(JOB_FIELD.name)}, name, ${lua(JOB_FIELD.data)}, data, ${lua(JOB_FIELD.opts)}, "{}",
        ${lua(JOB_FIELD.timestamp)}, timestamp, ${lua(JOB_FIELD.delay)}, 0, ${lua(JOB_FIELD.priority)}, 0)
end
`;
}
