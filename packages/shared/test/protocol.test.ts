// docs/protocol.md: the wire schemas are closed, typed and say which field is wrong.
import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { PollRequest, ResultPost, TaskPost } from '../src/protocol.js';
import { parseTaskQueueName, taskQueueName } from '../src/queues.js';
import { validate } from '../src/validation.js';

const uuid = '6f1f9a4e-2b9c-4d3e-8f7a-1b2c3d4e5f60';
const poll = {
  protocol: 1,
  agent_id: uuid,
  agent_name: 'agent',
  agent_time: '2026-11-25T14:00:00.123456+0300',
  agent_capabilities: { wait: { version: 1 } },
  max_tasks: 2,
};

const problem = (schema: z.ZodType, value: unknown) => {
  const result = validate(schema, value, 'body');
  expect(result.success).toBe(false);
  return result.success ? '' : result.message;
};

describe('protocol schemas', () => {
  it('accepts a poll with and without a location', () => {
    expect(PollRequest.safeParse(poll).success).toBe(true);
    expect(
      PollRequest.safeParse({ ...poll, agent_location: { country: 'FI', region: '18', latitude: 60.1, longitude: 24.9 } }).success,
    ).toBe(true);
  });

  it.each([
    [{ ...poll, protocol: 2 }, 'body.protocol: only protocol 1 is served'],
    [{ ...poll, protocol: '1' }, 'body.protocol'],
    [{ ...poll, max_tasks: -1 }, 'body.max_tasks: must be 0 or more'],
    [{ ...poll, max_tasks: 1.5 }, 'body.max_tasks'],
    [{ ...poll, agent_id: 'nope' }, 'body.agent_id: must be a UUID'],
    [{ ...poll, extra: 1 }, 'body: unknown field "extra"'],
    [{ ...poll, agent_capabilities: { wait: { version: 1, x: 1 } } }, 'body.agent_capabilities.wait: unknown field "x"'],
    [{ ...poll, agent_capabilities: { wait: { version: 'one' } } }, 'body.agent_capabilities.wait.version'],
    [{ ...poll, agent_location: { country: 'FIN', region: '18' } }, 'body.agent_location.country'],
    [{ ...poll, agent_location: { country: 'FI', region: '1' } }, 'body.agent_location.region'],
    [{ ...poll, agent_location: { country: 'FI' } }, 'body.agent_location.region: required'],
    [{ ...poll, agent_location: { country: 'FI', region: '18', city: 'x' } }, 'body.agent_location: unknown field "city"'],
    [(({ agent_name: _, ...rest }) => rest)(poll), 'body.agent_name: required'],
  ])('refuses bad poll %#', (body, message) => {
    expect(problem(PollRequest, body)).toContain(message);
  });

  it('says a missing body is missing', () => {
    expect(problem(PollRequest, undefined)).toBe('body: missing; expected a JSON object');
  });

  it('defaults task_data to {} and refuses non-object task_data', () => {
    const task = { task_id: uuid, test_id: uuid, task_type: 'wait', task_version: 1 };
    expect(TaskPost.parse(task).task_data).toEqual({});
    expect(problem(TaskPost, { ...task, task_data: [1] })).toContain('body.task_data');
    expect(problem(TaskPost, { ...task, task_data: null })).toContain('body.task_data');
    expect(problem(TaskPost, { ...task, task_version: 2 ** 31 })).toContain('body.task_version');
    expect(problem(TaskPost, { ...task, task_type: '' })).toContain('body.task_type: must not be empty');
  });

  it('takes exactly one of task_data and task_error', () => {
    const base = { protocol: 1, task_id: uuid };
    expect(ResultPost.safeParse({ ...base, task_data: { ok: true } }).success).toBe(true);
    expect(ResultPost.safeParse({ ...base, task_error: 'boom' }).success).toBe(true);
    expect(problem(ResultPost, { ...base, task_data: {}, task_error: 'x' })).toMatch(/unknown field "task_(data|error)"/);
    expect(problem(ResultPost, base)).toMatch(/body.task_(data|error): required/);
    expect(problem(ResultPost, { ...base, protocol: 3, task_error: 'x' })).toContain('body.protocol: only protocol 1 is served');
  });
});

describe('task queue names', () => {
  it.each([
    ['wait', 1],
    ['http.get', 2],
    ['a:b c/{d}', 0],
    ['ünïcode.type', -3],
  ])('round-trips %s v%d without ":" in the name', (type, version) => {
    const name = taskQueueName(type, version);
    expect(name).not.toContain(':');
    expect(parseTaskQueueName(name)).toEqual({ type, version });
  });

  it('keeps distinct (type, version) pairs distinct', () => {
    expect(taskQueueName('a.v1', 2)).not.toBe(taskQueueName('a', 12));
  });
});
