/**
 * The admin API (`/api/queues/*`, `/api/tasks/*`, `/api/agents/*` write routes, issue 15): request and
 * response schemas of every operator action, the single source of validation, types and OpenAPI for
 * them. The dashboard and the CLI's `--url` mode use these routes, so an operator needs a token, not
 * database credentials.
 */
import { z } from 'zod';
import { TaskType, TaskVersion, Uuid } from './protocol.js';

const Version = z.coerce
  .number({ error: 'must be a number' })
  .int()
  .min(-(2 ** 31))
  .max(2 ** 31 - 1);

export const QueueParams = z.strictObject({ task_type: TaskType });

export const QueueVersionQuery = z
  .strictObject({ version: Version.optional().describe('only this task version (default: every version of the type)') })
  .describe('which versions');

export const DrainBody = z
  .strictObject({
    reason: z.string().trim().min(1, 'must not be empty').max(1000).describe("recorded as each drained task's task_error"),
    version: TaskVersion.optional().describe('only this task version (default: every version of the type)'),
  })
  .meta({ id: 'DrainRequest' });

const QueueRef = z.object({
  task_type: z.string(),
  task_version: z.int(),
  location: z.object({ country: z.string(), region: z.string().optional() }).nullable(),
});

export const QueueActionResult = z
  .object({
    paused: z.boolean().describe('whether the queues now hold their tasks back'),
    queues: z.array(QueueRef).describe('the queues the action applied to (a location has a queue of its own)'),
  })
  .meta({ id: 'QueueActionResult' });

export const DrainResult = z
  .object({ queues: z.array(QueueRef.extend({ drained: z.int().describe('waiting tasks failed with the reason') })) })
  .meta({ id: 'DrainResult' });

export const RetryBody = z
  .strictObject({
    task_id: Uuid.optional().describe('id for the new task; give one to make the retry safe to repeat (default: a new id)'),
  })
  .meta({ id: 'RetryRequest' })
  // A POST without a body arrives as null.
  .nullish();

export const DropAgentResult = z
  .object({ agent_id: Uuid, failed_tasks: z.int().describe("tasks the agent held, failed as a silent agent's would be") })
  .meta({ id: 'DropAgentResult' });
