/**
 * The read API of the dashboard and of scripts (`/api/*`): query and response schemas, the single
 * source of validation, types and OpenAPI for those routes. Lists are newest first, a page at a time.
 * Query schemas stay inline (no registry id): @fastify/swagger cannot expand a $ref into parameters.
 */
import { z } from 'zod';
import { TASK_STATES } from './db/schema.js';
import { FAILURE_CAUSE_NAMES } from './dispatch/states.js';
import { JsonObject, TaskPost, TaskType, TaskVersion, TaskView, Uuid } from './protocol.js';

const Time = z.string().describe('ISO 8601, UTC');
const NullableTime = Time.nullable();
const TaskState = z.enum(TASK_STATES as [string, ...string[]]);
const Failure = z.enum(FAILURE_CAUSE_NAMES);
const Location = z.object({ country: z.string(), region: z.string().optional() });

/** Query numbers arrive as strings. */
const QueryInt = (min: number, max: number) => z.coerce.number({ error: 'must be a number' }).int().min(min).max(max);

/** A time in a query: ISO 8601 with an offset or Z. */
const QueryTime = z.iso
  .datetime({ offset: true, error: 'must be an ISO 8601 time, e.g. 2026-12-01T08:00:00Z' })
  .transform((text) => new Date(text));

export const PageQuery = {
  limit: QueryInt(1, 500).default(50).describe('items per page'),
  cursor: z.string().max(200).optional().describe('next_cursor of the previous page'),
};

export const TaskListQuery = z
  .strictObject({
    state: TaskState.optional(),
    type: TaskType.optional(),
    version: QueryInt(-(2 ** 31), 2 ** 31 - 1).optional(),
    test_id: Uuid.optional(),
    agent_id: Uuid.optional(),
    country: z
      .string()
      .regex(/^[A-Za-z]{2}$/, 'must be a two-letter country code')
      .transform((code) => code.toUpperCase())
      .optional()
      .describe('only tasks bound to this country (task_location)'),
    failure: Failure.optional().describe('only failed tasks that failed this way'),
    posted_after: QueryTime.optional().describe('only tasks posted at or after this time (ISO 8601)'),
    posted_before: QueryTime.optional().describe('only tasks posted before this time (ISO 8601)'),
    ...PageQuery,
  })
  .describe('task list filters');

/**
 * One task, the same everywhere (issue 15): the fields of GET /task/<id> as the protocol has them, and
 * what an operator needs besides — the state, the times of its life, its agent and its attempts.
 */
export const TaskDetail = TaskView.extend({
  state: TaskState.describe('as Postgres has it'),
  live_state: z
    .string()
    .nullable()
    .describe('dispatch state in Redis, when Redis knows more (e.g. "answered": result accepted, being written)'),
  posted_at: Time,
  claimed_at: NullableTime.describe('when its (last) agent took it'),
  finished_at: NullableTime.describe('when it completed or failed, as task_completed or task_failed'),
  stored_at: NullableTime.describe('when Postgres recorded the outcome (the worker writes it a moment after finished_at)'),
  failure: Failure.nullable().describe(
    'why a failed task failed: agent_error (its agent posted task_error), or AFM ended it — ttl_expired, timed_out, agent_silent (or dropped), drained (an operator drained its queue), cancelled; null unless failed, and for failures stored before AFM recorded this',
  ),
  agent_id: Uuid.nullable().describe('the agent that holds or held it'),
  task_attempts: z.int().min(0).describe('times the task was handed to an agent'),
}).meta({ id: 'TaskDetail' });
export type TaskDetail = z.infer<typeof TaskDetail>;

export const TaskPage = z
  .object({ items: z.array(TaskDetail.omit({ live_state: true })), next_cursor: z.string().nullable() })
  .meta({ id: 'TaskPage' });

export const TestRun = z
  .object({
    test_id: Uuid,
    summary: z.object({
      total: z.int(),
      waiting: z.int(),
      claimed: z.int(),
      completed: z.int(),
      failed: z.int(),
      first_posted: NullableTime,
      last_finished: NullableTime,
    }),
    tasks: z
      .array(TaskDetail.omit({ live_state: true }))
      .describe(
        "the run's tasks, oldest first: the first 1,000, or fewer when their data and results pass 1 MiB (summary counts them all)",
      ),
  })
  .meta({ id: 'TestRun' });

export const AgentListQuery = z
  .strictObject({
    active: z.enum(['true', 'false']).optional().describe('only active (true) or inactive (false) agents'),
    ...PageQuery,
  })
  .describe('agent list filters');

export const AgentDetail = z
  .object({
    agent_id: Uuid,
    name: z.string(),
    active: z.boolean(),
    location: z
      .object({ country: z.string(), region: z.string().nullable(), latitude: z.number().nullable(), longitude: z.number().nullable() })
      .nullable(),
    first_seen: Time,
    last_seen: Time,
    capabilities: z.array(z.object({ task_type: z.string(), task_version: z.int() })),
    tasks: z.object({ assigned: z.int(), completed: z.int(), failed: z.int() }),
  })
  .meta({ id: 'AgentDetail' });

export const AgentPage = z.object({ items: z.array(AgentDetail), next_cursor: z.string().nullable() }).meta({ id: 'AgentPage' });

export const QueueInfo = z
  .object({
    task_type: z.string(),
    task_version: z.int(),
    location: Location.nullable().describe('the queue of tasks bound to a location'),
    active_agents: z
      .int()
      .nullable()
      .describe(
        "active agents able to run the queue's type and version (for a location's queue: in that country and region); null: unknown, Postgres unreachable",
      ),
    no_capable_agent: z.boolean().nullable().describe('active_agents is 0: tasks posted or waiting here wait for nobody; null: unknown'),
    waiting: z.int(),
    in_progress: z.int(),
    oldest_waiting_age: z.number().nullable().describe('seconds'),
    paused: z.boolean(),
    events: z
      .record(z.string(), z.int())
      .describe('tasks posted, claimed, completed, failed, ttl_expired, timed_out, agent_silent, drained, retried, cancelled'),
  })
  .meta({ id: 'QueueInfo' });

export const Summary = z
  .object({
    agents: z.object({ active: z.int(), known: z.int() }),
    tasks: z.object({ waiting: z.int(), in_progress: z.int() }),
    events: z.record(z.string(), z.int()),
  })
  .meta({ id: 'Summary' });

const PerSecond = z
  .record(z.string(), z.number().nullable())
  .describe(
    "events per second since the sample before, per event (posted, claimed, completed, failed, ttl_expired, timed_out, agent_silent, drained, retried, cancelled); null at a queue's first sample",
  );
const Millis = z.number().describe('Unix time in ms');

export const HistoryQuery = z
  .strictObject({
    hours: z.coerce
      .number({ error: 'must be a number of hours' })
      .positive('must be greater than 0')
      .max(48, 'must be at most 48')
      .default(1)
      .describe('how far back (default 1; at most HISTORY_HOURS, what is kept)'),
    type: TaskType.optional().describe('also chart the queues of this task type one by one (default: the totals only)'),
  })
  .describe('history window');

export const History = z
  .object({
    step_seconds: z.int().describe('period of the samples and width of the latency slots'),
    window_hours: z.number().describe('HISTORY_HOURS: how much history is kept'),
    from: Time,
    to: Time,
    queues: z
      .array(
        z.object({
          task_type: z.string(),
          task_version: z.int(),
          location: Location.nullable(),
          points: z.array(z.object({ t: Millis, waiting: z.int(), in_progress: z.int(), paused: z.boolean(), per_second: PerSecond })),
        }),
      )
      .describe('with ?type=, the queues of that type one by one (a location has a queue of its own); else empty'),
    totals: z
      .array(z.object({ t: Millis, waiting: z.int(), in_progress: z.int(), per_second: PerSecond }))
      .describe(
        'every queue summed, one point per sample — at most 360: over a longer window every k-th sample, rates averaged over the k steps',
      ),
    latency: z
      .record(
        z.string(),
        z.array(
          z.object({
            t: Millis.describe('start of the 10-s slot, Unix time in ms'),
            p50: z.number().nullable().describe('seconds'),
            p99: z.number().nullable().describe('seconds'),
            count: z.int(),
          }),
        ),
      )
      .describe(
        'per route (POST /task, GET /task/:task_id, POST /tasks, POST /tasks/response; long polls left out): slots that saw requests, every replica merged',
      ),
  })
  .meta({ id: 'History' });

export const WorkerInfo = z
  .object({
    results: z
      .object({ waiting: z.int(), active: z.int(), delayed: z.int(), failed: z.int() })
      .describe(
        'the results queue: outcomes accepted and not yet written to Postgres (delayed: waiting to be retried; failed: given up, kept for an operator)',
      ),
    jobs: z.array(
      z.object({
        job: z.string(),
        every_ms: z.int().nullable().describe('period of its schedule; null: not scheduled (turned off)'),
        next_run: NullableTime,
        last_run: NullableTime,
        last_success: NullableTime,
        failures: z.int().describe('failed runs in a row'),
        state: z.enum(['ok', 'failing', 'stalled', 'unknown']).describe('unknown: it has not run yet'),
        status: z.string().describe('as /readyz says it'),
      }),
    ),
    workers: z
      .array(z.object({ id: z.string(), last_beat: Time, live: z.boolean() }))
      .describe('worker processes seen in the last hour, most recent first; live: beat within 10 s'),
  })
  .meta({ id: 'WorkerInfo' });

/** POST /api/tasks: like POST /task, but ids are generated when absent. */
export const NewTask = TaskPost.extend({
  task_id: Uuid.optional(),
  test_id: Uuid.optional(),
  task_type: TaskType,
  task_version: TaskVersion,
  task_data: JsonObject.default({}),
}).meta({ id: 'NewTask' });

export const IdParams = {
  task: z.strictObject({ task_id: Uuid }),
  test: z.strictObject({ test_id: Uuid }),
  agent: z.strictObject({ agent_id: Uuid }),
};
