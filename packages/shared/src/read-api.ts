/**
 * The read API of the dashboard and of scripts (`/api/*`): query and response schemas, the single
 * source of validation, types and OpenAPI for those routes. Lists are newest first, a page at a time.
 * Query schemas stay inline (no registry id): @fastify/swagger cannot expand a $ref into parameters.
 */
import { z } from 'zod';
import { TASK_STATES } from './db/schema.js';
import { JsonObject, TaskPost, TaskType, TaskVersion, Uuid } from './protocol.js';

const Time = z.string().describe('ISO 8601, UTC');
const NullableTime = Time.nullable();
const TaskState = z.enum(TASK_STATES as [string, ...string[]]);

/** Query numbers arrive as strings. */
const QueryInt = (min: number, max: number) => z.coerce.number({ error: 'must be a number' }).int().min(min).max(max);

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
    ...PageQuery,
  })
  .describe('task list filters');

export const TaskDetail = z
  .object({
    task_id: Uuid,
    test_id: Uuid,
    task_type: z.string(),
    task_version: z.int(),
    task_data: JsonObject,
    state: TaskState.describe('as Postgres has it'),
    live_state: z
      .string()
      .nullable()
      .describe('dispatch state in Redis, when Redis knows more (e.g. "answered": result accepted, being written)'),
    posted_at: Time,
    claimed_at: NullableTime,
    finished_at: NullableTime,
    agent_id: Uuid.nullable(),
    result: JsonObject.nullable(),
    error: z.string().nullable(),
  })
  .meta({ id: 'TaskDetail' });
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
    location: z
      .object({ country: z.string(), region: z.string().optional() })
      .nullable()
      .describe('the queue of tasks bound to a location'),
    active_agents: z.int().nullable().describe('for a location: active agents there that can run the type (0: its tasks wait for nobody)'),
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
