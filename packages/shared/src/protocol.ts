/**
 * Protocol version 1: every request and response body of docs/protocol.md, as strict zod schemas.
 * They are the single source of validation, TypeScript types and the OpenAPI document.
 */
import { z } from 'zod';

const UUID_PATTERN = /^[a-fA-F0-9]{8}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{4}-[a-fA-F0-9]{12}$/;

/** Longest task type accepted; a queue name and several Redis keys are built from it. */
export const MAX_TASK_TYPE_LENGTH = 200;

/**
 * Most capabilities one poll may name. A poll claims from every queue of its capabilities in one Redis
 * script (three queues each for an agent with a location), so this bounds the work of one poll; real
 * agents have a handful.
 */
export const MAX_CAPABILITIES = 256;

/** Longest agent_name and agent_time kept for an agent (Redis holds them for every agent). */
export const MAX_AGENT_NAME_LENGTH = 1_000;
export const MAX_AGENT_TIME_LENGTH = 100;

/** Ids are compared in lower case everywhere (Postgres' uuid type prints them so). */
export const Uuid = z.string().regex(UUID_PATTERN, 'must be a UUID (8-4-4-4-12 hex digits)').toLowerCase();

const UNSTORABLE = 'must not contain \\u0000 or unpaired surrogates (Postgres cannot store them)';

/** Postgres text and jsonb refuse NUL characters and unpaired UTF-16 surrogates: refuse them up front. */
const isStorable = (text: string) => !text.includes('\u0000') && text.isWellFormed();

/** A string that Postgres can store. */
export const Text = z.string().refine(isStorable, UNSTORABLE);

const PROTO = '__proto__';

/**
 * Whether a JSON value holds something AFM refuses to store: a string (key or value) that Postgres
 * cannot store (unless `strings` is false), or a key named `__proto__` (JavaScript would drop it, or
 * take it as the object's prototype). Iterative, so no input can exhaust the stack; only non-empty
 * containers go on the stack, so a megabyte of JSON takes milliseconds.
 */
function holdsRefused(root: unknown, strings: boolean): boolean {
  const stack: object[] = [];
  const visit = (value: unknown): boolean => {
    if (typeof value === 'string') return strings && !isStorable(value);
    if (typeof value === 'object' && value !== null) stack.push(value);
    return false;
  };
  if (visit(root)) return true;
  while (stack.length > 0) {
    const container = stack.pop()!;
    if (Array.isArray(container)) {
      for (let index = 0; index < container.length; index++) if (visit(container[index])) return true;
    } else {
      for (const key of Object.keys(container)) {
        if (key === PROTO || (strings && !isStorable(key))) return true;
        if (visit((container as Record<string, unknown>)[key])) return true;
      }
    }
  }
  return false;
}

/**
 * Where a JSON value holds something AFM refuses to store (see holdsRefused): the path to the first
 * such place and what is wrong there, or undefined. The path is searched for only when there is one.
 */
export function refusedJsonPath(
  root: unknown,
  { strings = true }: { strings?: boolean } = {},
): { path: PropertyKey[]; message: string } | undefined {
  if (!holdsRefused(root, strings)) return undefined;
  // Each entry links to its parent, so a path is built only for the one place that is refused.
  interface Entry {
    value: unknown;
    key: PropertyKey | undefined;
    parent: Entry | undefined;
  }
  const pathOf = (entry: Entry | undefined, last?: PropertyKey): PropertyKey[] => {
    const path: PropertyKey[] = last === undefined ? [] : [last];
    for (let at = entry; at?.parent; at = at.parent) path.unshift(at.key!);
    return path;
  };
  const stack: Entry[] = [{ value: root, key: undefined, parent: undefined }];
  while (stack.length > 0) {
    const entry = stack.pop()!;
    const { value } = entry;
    if (typeof value === 'string') {
      if (strings && !isStorable(value)) return { path: pathOf(entry), message: UNSTORABLE };
    } else if (Array.isArray(value)) {
      for (let index = value.length - 1; index >= 0; index--) stack.push({ value: value[index], key: index, parent: entry });
    } else if (value !== null && typeof value === 'object') {
      const keys = Object.keys(value);
      for (let index = keys.length - 1; index >= 0; index--) {
        const key = keys[index]!;
        if (key === PROTO) return { path: pathOf(entry, key), message: 'a key named "__proto__" is not accepted' };
        if (strings && !isStorable(key)) return { path: pathOf(entry, key), message: UNSTORABLE };
        stack.push({ value: (value as Record<string, unknown>)[key], key, parent: entry });
      }
    }
  }
  return undefined;
}

/** Arbitrary JSON object (task data, task results). Arrays and scalars are refused. */
export const JsonObject = z.record(z.string(), z.unknown()).superRefine((value, ctx) => {
  const refused = refusedJsonPath(value);
  if (refused) ctx.addIssue({ code: 'custom', message: refused.message, path: refused.path });
});
export type JsonObject = z.infer<typeof JsonObject>;

export const Protocol = z.literal(1, { error: 'only protocol 1 is served' });

export const TaskType = Text.min(1, 'must not be empty').max(MAX_TASK_TYPE_LENGTH, `must be at most ${MAX_TASK_TYPE_LENGTH} characters`);

/** Versions are stored as Postgres integers, so they are bounded to int32. */
export const TaskVersion = z.int32();

/** ISO 8601 timestamp with a time-zone offset, e.g. `2026-11-25T14:01:00.000+00:00`. */
export const Timestamp = z.string().describe('ISO 8601 timestamp with a time-zone offset');

// §2.1 Agent asks for tasks — POST /tasks

export const AgentLocation = z.strictObject({
  country: Text.length(2, 'must be an ISO 3166-1 alpha-2 code (2 characters)'),
  region: Text.min(2, 'must be 2 to 4 characters').max(4, 'must be 2 to 4 characters'),
  latitude: z.number().optional(),
  longitude: z.number().optional(),
});
export type AgentLocation = z.infer<typeof AgentLocation>;

export const Capability = z.strictObject({ version: TaskVersion });

export const PollRequest = z
  .strictObject({
    protocol: Protocol,
    agent_id: Uuid,
    agent_name: Text.max(MAX_AGENT_NAME_LENGTH, `must be at most ${MAX_AGENT_NAME_LENGTH} characters`),
    agent_location: AgentLocation.optional(),
    agent_time: z
      .string()
      .max(MAX_AGENT_TIME_LENGTH, `must be at most ${MAX_AGENT_TIME_LENGTH} characters`)
      .describe('agent local time; any string is accepted'),
    agent_capabilities: z
      .record(TaskType, Capability)
      .refine((capabilities) => Object.keys(capabilities).length <= MAX_CAPABILITIES, `must name at most ${MAX_CAPABILITIES} task types`)
      .meta({ maxProperties: MAX_CAPABILITIES }),
    max_tasks: z.int().min(0, 'must be 0 or more'),
  })
  .meta({ id: 'PollRequest' });
export type PollRequest = z.infer<typeof PollRequest>;

/** A task as handed to an agent: exactly these four keys. */
export const DispatchedTask = z.strictObject({
  task_id: Uuid,
  task_type: TaskType,
  task_version: TaskVersion,
  task_data: JsonObject,
});
export type DispatchedTask = z.infer<typeof DispatchedTask>;

export const PollResponse = z
  .strictObject({
    tasks: z.array(DispatchedTask),
    return_time: Timestamp,
  })
  .meta({ id: 'PollResponse' });
export type PollResponse = z.infer<typeof PollResponse>;

// §2.2 Agent posts a result — POST /tasks/response

export const ResultPost = z
  .union([
    z.strictObject({ protocol: Protocol, task_id: Uuid, task_data: JsonObject }),
    z.strictObject({ protocol: Protocol, task_id: Uuid, task_error: Text }),
  ])
  .meta({ id: 'ResultPost' });
export type ResultPost = z.infer<typeof ResultPost>;

// §2.3 BPMS posts a task — POST /task; the optional task_* options are AFM extensions (docs/extensions.md)

/** Only agents whose agent_location matches may claim the task (region optional: any region of the country). */
export const TaskLocation = z.strictObject({
  country: Text.length(2, 'must be an ISO 3166-1 alpha-2 code (2 characters)'),
  region: Text.min(2, 'must be 2 to 4 characters').max(4, 'must be 2 to 4 characters').optional(),
});
export type TaskLocation = z.infer<typeof TaskLocation>;

const Seconds = z.number().positive('must be a number of seconds greater than 0').max(31_536_000, 'must be at most a year');

export const TaskOptions = {
  task_ttl: Seconds.optional().describe('seconds to be claimed in, else the task fails as expired'),
  task_timeout: Seconds.optional().describe('seconds from claim to result, else the agent counts as silent for this task'),
  task_retries: z
    .int()
    .min(0)
    .max(100)
    .optional()
    .describe('times the task goes back to the front of its queue when its agent goes silent or times out'),
  task_location: TaskLocation.optional(),
};

export const TaskPost = z
  .strictObject({
    task_id: Uuid,
    test_id: Uuid,
    task_type: TaskType,
    task_version: TaskVersion,
    task_data: JsonObject.default({}),
    ...TaskOptions,
  })
  .meta({ id: 'TaskPost' });
export type TaskPost = z.output<typeof TaskPost>;

/** `?wait=S`: hold the request up to S seconds (long poll). */
export const WaitQuery = z.strictObject({
  wait: z.coerce.number({ error: 'must be a number of seconds' }).min(0, 'must be 0 to 30').max(30, 'must be 0 to 30').optional(),
});

// §2.4 BPMS reads a task — GET /task/:task_id

export const TaskIdParams = z.strictObject({ task_id: Uuid });

/** DELETE /task/:task_id answers with what the task became. */
export const CancelResponse = z
  .strictObject({ task_id: Uuid, task_failed: Timestamp, task_error: z.literal('cancelled') })
  .meta({ id: 'CancelResponse' });

export const TaskView = z
  .strictObject({
    task_id: Uuid,
    test_id: Uuid,
    task_type: TaskType,
    task_version: TaskVersion,
    task_data: JsonObject,
    task_completed: Timestamp.optional(),
    task_result: JsonObject.optional(),
    task_failed: Timestamp.optional(),
    task_error: Text.optional(),
    ...TaskOptions,
    task_attempts: z.int().min(0).optional().describe('times the task was handed to an agent (shown with task_retries)'),
  })
  .meta({ id: 'TaskView' });
export type TaskView = z.infer<typeof TaskView>;

// §2.5 Health — GET /status

export const StatusResponse = z
  .object({
    agents: z.int().min(0).describe('agents seen within AGENT_ACTIVE_THRESHOLD'),
    tasks_waiting: z.int().min(0).describe('tasks not yet claimed'),
  })
  .meta({ id: 'StatusResponse' });
export type StatusResponse = z.infer<typeof StatusResponse>;

// §2.2, §2.3: acceptance is a 200 with an empty body.
export const EmptyBody = z.literal('').describe('empty body');

// §2.6 Errors

export const ErrorBody = z
  .object({
    statusCode: z.int(),
    code: z.string().describe('stable machine-readable code, AFM_ERR_*'),
    error: z.string().describe('HTTP reason phrase'),
    message: z.string().describe('what is wrong, naming the field'),
  })
  .meta({ id: 'ErrorBody' });
export type ErrorBody = z.infer<typeof ErrorBody>;
