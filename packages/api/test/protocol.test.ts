// docs/protocol.md through HTTP (inject): every route, with and without a trailing slash, and every 400 case.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTask } from '@afm/shared/db/tasks';
import { recordOutcome } from '@afm/shared/db/tasks';
import type { TaskOutcome } from '@afm/shared/queues';
import { startApiHarness, type ApiHarness } from './harness.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness('api-protocol', { AGENT_RETURN_TIME: '30' });
});
afterAll(() => h.close());

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const post = (url: string, body: unknown) => h.app.inject({ method: 'POST', url, ...json(body) });
const get = (url: string) => h.app.inject({ method: 'GET', url });

const newTask = (type = `t-${randomUUID().slice(0, 8)}`, extra: Record<string, unknown> = {}) => ({
  task_id: randomUUID(),
  test_id: randomUUID(),
  task_type: type,
  task_version: 1,
  task_data: { url: 'https://example.com', n: 1 },
  ...extra,
});
const newPoll = (capabilities: Record<string, { version: number }>, extra: Record<string, unknown> = {}) => ({
  protocol: 1,
  agent_id: randomUUID(),
  agent_name: 'test agent',
  agent_time: '2026-11-25T14:00:00.123456+0300',
  agent_capabilities: capabilities,
  max_tasks: 5,
  ...extra,
});

/** Puts the result into Postgres as the worker would (no worker runs in this file). */
async function persist(taskId: string, outcome: TaskOutcome, agentId: string | null = null) {
  await recordOutcome(h.deps.db, { task_id: taskId, outcome, finished_at: Date.now(), agent_id: agentId, claimed_at: null });
  await h.deps.dispatch.finishTask(taskId, 60);
}

function expectError(response: { statusCode: number; json(): unknown }, status: number, code: string, messagePart?: string) {
  expect(response.statusCode).toBe(status);
  const body = response.json() as Record<string, unknown>;
  expect(body).toMatchObject({ statusCode: status, code, error: expect.any(String), message: expect.any(String) });
  if (messagePart) expect(body.message).toContain(messagePart);
}

describe('POST /task (docs/protocol.md)', () => {
  it('accepts a task with 200 and an empty body, with and without trailing slash', async () => {
    for (const url of ['/task', '/task/']) {
      const response = await post(url, newTask());
      expect(response.statusCode).toBe(200);
      expect(response.body).toBe('');
    }
  });

  it('stores task_data as {} when absent', async () => {
    const { task_data: _, ...task } = newTask();
    expect((await post('/task', task)).statusCode).toBe(200);
    expect((await get(`/task/${task.task_id}`)).json().task_data).toEqual({});
  });

  it.each([
    ['task_id missing', (t: Record<string, unknown>) => delete t.task_id, 'body.task_id'],
    ['test_id missing', (t: Record<string, unknown>) => delete t.test_id, 'body.test_id'],
    ['task_type missing', (t: Record<string, unknown>) => delete t.task_type, 'body.task_type'],
    ['task_version missing', (t: Record<string, unknown>) => delete t.task_version, 'body.task_version'],
    ['task_id not a uuid', (t: Record<string, unknown>) => (t.task_id = 'abc'), 'body.task_id'],
    ['task_version a string', (t: Record<string, unknown>) => (t.task_version = '1'), 'body.task_version'],
    ['task_version fractional', (t: Record<string, unknown>) => (t.task_version = 1.5), 'body.task_version'],
    ['task_data an array', (t: Record<string, unknown>) => (t.task_data = []), 'body.task_data'],
    ['task_data null', (t: Record<string, unknown>) => (t.task_data = null), 'body.task_data'],
    ['unknown field', (t: Record<string, unknown>) => (t.priority = 1), 'priority'],
  ])('refuses %s with 400 naming the field', async (_name, mutate, field) => {
    const task = newTask() as Record<string, unknown>;
    mutate(task);
    expectError(await post('/task', task), 400, 'AFM_ERR_VALIDATION', field);
  });

  it('refuses a task_id seen before with other content, also after the task finished', async () => {
    const task = { ...newTask(), task_data: { a: 1, b: [1, { c: 'x' }] } };
    expect((await post('/task', task)).statusCode).toBe(200);
    expectError(await post('/task', { ...newTask(), task_id: task.task_id }), 400, 'AFM_ERR_DUPLICATE_TASK', task.task_id);
    for (const changed of [
      { test_id: randomUUID() },
      { task_version: 2 },
      { task_data: { a: 1 } },
      { task_data: { ...task.task_data, a: 2 } },
      { task_ttl: 60 },
    ]) {
      expectError(await post('/task', { ...task, ...changed }), 400, 'AFM_ERR_DUPLICATE_TASK');
    }
    await persist(task.task_id, { state: 'completed', result: {} });
    expectError(await post('/task/', { ...task, task_data: {} }), 400, 'AFM_ERR_DUPLICATE_TASK');
  });

  it('answers an identical repeat with 200 and stores nothing new, also after the task finished (docs/protocol.md)', async () => {
    const task = { ...newTask(), task_data: { a: 1, b: [1, { c: 'x', d: 1.5 }] } };
    expect((await post('/task', task)).statusCode).toBe(200);
    // The same JSON values: key order and the spelling of numbers do not matter.
    const reordered = `{"task_data":{"b":[1.0,{"d":15e-1,"c":"x"}],"a":1},"task_version":1,"task_type":${JSON.stringify(task.task_type)},"test_id":"${task.test_id.toUpperCase()}","task_id":"${task.task_id}"}`;
    for (const again of [JSON.stringify(task), reordered]) {
      const response = await h.app.inject({
        method: 'POST',
        url: '/task',
        headers: { 'content-type': 'application/json' },
        payload: again,
      });
      expect(response.statusCode, response.body).toBe(200);
      expect(response.body).toBe('');
    }
    // Queued once: one poll gets it, the next finds nothing.
    const agent = newPoll({ [task.task_type]: { version: 1 } });
    expect((await post('/tasks', agent)).json().tasks).toHaveLength(1);
    expect((await post('/tasks', agent)).json().tasks).toHaveLength(0);
    await persist(task.task_id, { state: 'completed', result: { ok: 1 } });
    expect((await post('/task', task)).statusCode).toBe(200);
    expect((await get(`/task/${task.task_id}`)).json()).toMatchObject({ task_result: { ok: 1 } });
    expect((await post('/tasks', agent)).json().tasks).toHaveLength(0);
  });

  it('treats upper- and lower-case ids as the same id', async () => {
    const task = newTask();
    const upper = { ...task, task_id: task.task_id.toUpperCase() };
    expect((await post('/task', upper)).statusCode).toBe(200);
    expect((await get(`/task/${task.task_id.toUpperCase()}`)).statusCode).toBe(200);
    expect((await get(`/task/${task.task_id}`)).json().task_id).toBe(task.task_id);
    expect((await post('/task', task)).statusCode).toBe(200);
    expectError(await post('/task', { ...task, task_data: { other: true } }), 400, 'AFM_ERR_DUPLICATE_TASK');
  });

  it('accepts exactly one of many simultaneous posts of one id with different content, and every identical one', async () => {
    const task = newTask();
    const different = await Promise.all(Array.from({ length: 10 }, (_, n) => post('/task', { ...task, task_data: { n } })));
    expect(different.map((r) => r.statusCode).sort()).toEqual([200, ...Array(9).fill(400)]);
    const same = newTask();
    const identical = await Promise.all(Array.from({ length: 10 }, () => post('/task', same)));
    expect(identical.map((r) => r.statusCode)).toEqual(Array(10).fill(200));
    const claimed = (await post('/tasks', newPoll({ [same.task_type]: { version: 1 } }, { max_tasks: 20 }))).json().tasks;
    expect(claimed.map((t: { task_id: string }) => t.task_id)).toEqual([same.task_id]);
  });
});

describe('GET /task/:id (docs/protocol.md)', () => {
  it('shows an unfinished task without result keys', async () => {
    const task = newTask();
    await post('/task', task);
    for (const url of [`/task/${task.task_id}`, `/task/${task.task_id}/`]) {
      const response = await get(url);
      expect(response.statusCode).toBe(200);
      expect(response.json()).toEqual(task);
    }
  });

  it('shows task_completed and task_result once completed, task_failed and task_error once failed', async () => {
    const done = newTask();
    const failed = newTask();
    await post('/task', done);
    await post('/task', failed);
    await persist(done.task_id, { state: 'completed', result: { ms: 12 } });
    await persist(failed.task_id, { state: 'failed', error: 'timeout', cause: 'agent_error' });
    const doneView = (await get(`/task/${done.task_id}`)).json();
    expect(doneView).toEqual({
      ...done,
      task_completed: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/),
      task_result: { ms: 12 },
    });
    const failedView = (await get(`/task/${failed.task_id}`)).json();
    expect(failedView).toEqual({ ...failed, task_failed: expect.any(String), task_error: 'timeout' });
    expect(Number.isNaN(Date.parse(failedView.task_failed))).toBe(false);
  });

  it('answers 404 for an unknown id and 400 for a malformed one', async () => {
    expectError(await get(`/task/${randomUUID()}`), 404, 'AFM_ERR_TASK_NOT_FOUND');
    expectError(await get('/task/not-a-uuid'), 400, 'AFM_ERR_VALIDATION', 'params.task_id');
  });
});

describe('POST /tasks (docs/protocol.md)', () => {
  it('hands matching tasks out with exactly the four keys and a return_time with an offset', async () => {
    const type = `p-${randomUUID().slice(0, 8)}`;
    const task = newTask(type);
    const other = newTask(type, { task_version: 2 });
    await post('/task', task);
    await post('/task', other);
    const before = Date.now();
    const response = await post('/tasks/', newPoll({ [type]: { version: 1 } }));
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(Object.keys(body).sort()).toEqual(['return_time', 'tasks']);
    expect(body.tasks).toEqual([{ task_id: task.task_id, task_type: type, task_version: 1, task_data: task.task_data }]);
    expect(body.return_time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
    const returnAt = Date.parse(body.return_time);
    expect(returnAt).toBeGreaterThanOrEqual(before + 30_000 - 1);
    expect(returnAt).toBeLessThanOrEqual(Date.now() + 30_000);
  });

  it('hands the oldest task first across all capabilities', async () => {
    const [x, y] = [`x-${randomUUID().slice(0, 8)}`, `y-${randomUUID().slice(0, 8)}`];
    const first = newTask(x);
    const second = newTask(y);
    await post('/task', first);
    await post('/task', second);
    const capabilities = { [y]: { version: 1 }, [x]: { version: 1 } };
    expect((await post('/tasks', newPoll(capabilities, { max_tasks: 1 }))).json().tasks[0].task_id).toBe(first.task_id);
    expect((await post('/tasks', newPoll(capabilities, { max_tasks: 1 }))).json().tasks[0].task_id).toBe(second.task_id);
  });

  it('gives nothing for max_tasks 0, and never the same task twice', async () => {
    const type = `z-${randomUUID().slice(0, 8)}`;
    await post('/task', newTask(type));
    expect((await post('/tasks', newPoll({ [type]: { version: 1 } }, { max_tasks: 0 }))).json().tasks).toEqual([]);
    expect((await post('/tasks', newPoll({ [type]: { version: 1 } }))).json().tasks).toHaveLength(1);
    expect((await post('/tasks', newPoll({ [type]: { version: 1 } }))).json().tasks).toEqual([]);
  });

  it('accepts a location and any agent_time string', async () => {
    const response = await post(
      '/tasks',
      newPoll({}, { agent_location: { country: 'FI', region: '18', latitude: 60.2, longitude: 24.9 }, agent_time: 'whenever' }),
    );
    expect(response.statusCode).toBe(200);
  });

  it.each([
    ['protocol 2', { protocol: 2 }, 'body.protocol'],
    ['protocol "1"', { protocol: '1' }, 'body.protocol'],
    ['negative max_tasks', { max_tasks: -1 }, 'body.max_tasks'],
    ['fractional max_tasks', { max_tasks: 0.5 }, 'body.max_tasks'],
    ['agent_id not a uuid', { agent_id: 'agent-1' }, 'body.agent_id'],
    ['unknown field', { agent_version: '1.0' }, 'agent_version'],
    ['capability with an extra key', { agent_capabilities: { wait: { version: 1, os: 'linux' } } }, 'body.agent_capabilities.wait'],
    ['capability version a string', { agent_capabilities: { wait: { version: '1' } } }, 'body.agent_capabilities.wait.version'],
    ['country of 3 characters', { agent_location: { country: 'FIN', region: '18' } }, 'body.agent_location.country'],
    ['region of 5 characters', { agent_location: { country: 'FI', region: '12345' } }, 'body.agent_location.region'],
    ['location with an extra key', { agent_location: { country: 'FI', region: '18', city: 'x' } }, 'body.agent_location'],
  ])('refuses %s with 400 naming the field', async (_name, change, field) => {
    expectError(await post('/tasks', newPoll({}, change)), 400, 'AFM_ERR_VALIDATION', field);
  });

  it('refuses a poll with a missing field', async () => {
    for (const field of ['protocol', 'agent_id', 'agent_name', 'agent_time', 'agent_capabilities', 'max_tasks']) {
      const poll = newPoll({}) as Record<string, unknown>;
      delete poll[field];
      expectError(await post('/tasks', poll), 400, 'AFM_ERR_VALIDATION', `body.${field}: required`);
    }
  });
});

describe('POST /tasks/response (docs/protocol.md)', () => {
  async function claimedTask() {
    const type = `r-${randomUUID().slice(0, 8)}`;
    const task = newTask(type);
    await post('/task', task);
    const poll = newPoll({ [type]: { version: 1 } });
    const tasks = (await post('/tasks', poll)).json().tasks;
    expect(tasks).toHaveLength(1);
    return { task, agentId: poll.agent_id };
  }

  it('accepts the first result with 200 and an empty body, and refuses a different second one', async () => {
    const { task } = await claimedTask();
    const response = await post('/tasks/response/', { protocol: 1, task_id: task.task_id, task_data: { ok: true } });
    expect(response.statusCode).toBe(200);
    expect(response.body).toBe('');
    expectError(
      await post('/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { ok: false } }),
      400,
      'AFM_ERR_TASK_FINISHED',
    );
    expectError(await post('/tasks/response', { protocol: 1, task_id: task.task_id, task_error: 'late' }), 400, 'AFM_ERR_TASK_FINISHED');
  });

  it('answers an identical repeat of the accepted outcome with 200 and changes nothing, before and after Postgres has it (docs/protocol.md)', async () => {
    const outcomes: ({ task_data: Record<string, unknown> } | { task_error: string })[] = [
      { task_data: { ok: true, n: [1, 2] } },
      { task_error: 'it broke' },
    ];
    for (const outcome of outcomes) {
      const { task, agentId } = await claimedTask();
      const first = { protocol: 1, task_id: task.task_id, ...outcome };
      expect((await post('/tasks/response', first)).statusCode).toBe(200);
      // Still in Redis (answered): the same outcome again, and with keys in another order.
      const again = await post(
        '/tasks/response',
        'task_data' in outcome ? { task_data: { n: [1, 2], ok: true }, task_id: task.task_id, protocol: 1 } : first,
      );
      expect(again.statusCode, again.body).toBe(200);
      expect(again.body).toBe('');
      await persist(
        task.task_id,
        'task_data' in outcome
          ? { state: 'completed', result: outcome.task_data }
          : { state: 'failed', error: outcome.task_error, cause: 'agent_error' },
        agentId,
      );
      // In Postgres (Redis keeps a tombstone), and once Redis forgot the task altogether.
      expect((await post('/tasks/response', first)).statusCode).toBe(200);
      await h.deps.dispatch.redis.del(h.deps.dispatch.keys.task(task.task_id));
      expect((await post('/tasks/response', first)).statusCode).toBe(200);
      expectError(await post('/tasks/response', { protocol: 1, task_id: task.task_id, task_error: 'other' }), 400, 'AFM_ERR_TASK_FINISHED');
      const view = (await get(`/task/${task.task_id}`)).json();
      expect(view.task_result ?? view.task_error).toEqual('task_data' in outcome ? outcome.task_data : outcome.task_error);
    }
  });

  it('accepts exactly one of many simultaneous results', async () => {
    const { task } = await claimedTask();
    const responses = await Promise.all(
      Array.from({ length: 10 }, (_, n) => post('/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { n } })),
    );
    expect(responses.map((r) => r.statusCode).sort()).toEqual([200, ...Array(9).fill(400)]);
  });

  it('refuses unknown, unclaimed and finished tasks', async () => {
    expectError(await post('/tasks/response', { protocol: 1, task_id: randomUUID(), task_error: 'x' }), 400, 'AFM_ERR_UNKNOWN_TASK');
    const waiting = newTask();
    await post('/task', waiting);
    expectError(await post('/tasks/response', { protocol: 1, task_id: waiting.task_id, task_error: 'x' }), 400, 'AFM_ERR_TASK_NOT_CLAIMED');
    const { task } = await claimedTask();
    await post('/tasks/response', { protocol: 1, task_id: task.task_id, task_error: 'failed' });
    await persist(task.task_id, { state: 'failed', error: 'failed', cause: 'agent_error' });
    // Even after Redis forgot the task, Postgres knows it is finished.
    await h.deps.dispatch.redis.del(h.deps.dispatch.keys.task(task.task_id));
    expectError(await post('/tasks/response', { protocol: 1, task_id: task.task_id, task_data: {} }), 400, 'AFM_ERR_TASK_FINISHED');
  });

  it('rebuilds a claim that Redis lost but Postgres holds', async () => {
    const { task, agentId } = await claimedTask();
    await h.deps.db
      .updateTable('tasks')
      .set({ state: 'claimed', agent_id: agentId, claimed_at: new Date() })
      .where('id', '=', task.task_id)
      .execute();
    await h.deps.dispatch.redis.del(h.deps.dispatch.keys.task(task.task_id));
    expect((await post('/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { late: 1 } })).statusCode).toBe(200);
    const job = await h.deps.dispatch.results.getJob(task.task_id);
    expect(job?.data).toMatchObject({
      task_id: task.task_id,
      agent_id: agentId,
      outcome: { state: 'completed', result_json: '{"late":1}' },
    });
  });

  it('queues the accepted result for the worker', async () => {
    const { task, agentId } = await claimedTask();
    await post('/tasks/response', { protocol: 1, task_id: task.task_id, task_error: 'boom' });
    const job = await h.deps.dispatch.results.getJob(task.task_id);
    expect(job?.data).toMatchObject({ task_id: task.task_id, agent_id: agentId, outcome: { state: 'failed', error: 'boom' } });
    expect((await findTask(h.deps.db, task.task_id))?.finished_at).toBeNull();
  });

  it.each([
    ['both task_data and task_error', { task_data: {}, task_error: 'x' }, 'unknown field'],
    ['neither', {}, 'required'],
    ['task_data an array', { task_data: [] }, 'body.task_data'],
    ['task_error a number', { task_error: 5 }, 'body.task_error'],
    ['protocol 0', { protocol: 0, task_error: 'x' }, 'body.protocol'],
  ])('refuses %s', async (_name, change, message) => {
    expectError(await post('/tasks/response', { protocol: 1, task_id: randomUUID(), ...change }), 400, 'AFM_ERR_VALIDATION', message);
  });
});

describe('GET /status (docs/protocol.md)', () => {
  it('counts active agents and waiting tasks', async () => {
    const before = (await get('/status')).json();
    const type = `s-${randomUUID().slice(0, 8)}`;
    await post('/task', newTask(type));
    await post('/task', newTask(type));
    const after = (await get('/status/')).json();
    expect(after.tasks_waiting).toBe(before.tasks_waiting + 2);
    await post('/tasks', newPoll({ [type]: { version: 1 } }, { max_tasks: 1 }));
    const polled = (await get('/status')).json();
    expect(polled).toEqual({ agents: before.agents + 1, tasks_waiting: before.tasks_waiting + 1 });
  });
});

describe('errors (docs/protocol.md)', () => {
  it.each([
    ['not JSON', 'this is not json', 'AFM_ERR_INVALID_JSON'],
    ['truncated JSON', '{"protocol": 1', 'AFM_ERR_INVALID_JSON'],
    ['no body', '', 'AFM_ERR_VALIDATION'],
    ['an array', '[]', 'AFM_ERR_VALIDATION'],
    ['a string', '"x"', 'AFM_ERR_VALIDATION'],
    ['null', 'null', 'AFM_ERR_VALIDATION'],
  ])('answers 400 JSON for a body that is %s', async (_name, payload, code) => {
    for (const url of ['/task', '/tasks', '/tasks/response']) {
      expectError(await h.app.inject({ method: 'POST', url, payload, headers: { 'content-type': 'application/json' } }), 400, code);
    }
  });

  it('parses JSON whatever the content type', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/task',
      payload: JSON.stringify(newTask()),
      headers: { 'content-type': 'text/plain' },
    });
    expect(response.statusCode).toBe(200);
    const bare = await h.app.inject({
      method: 'POST',
      url: '/tasks',
      payload: 'x=1',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expectError(bare, 400, 'AFM_ERR_INVALID_JSON');
  });

  it('answers 413 JSON for a body over the limit', async () => {
    const big = newTask(undefined, { task_data: { blob: 'x'.repeat(2 * 1024 * 1024) } });
    expectError(await post('/task', big), 413, 'AFM_ERR_PAYLOAD_TOO_LARGE');
  });

  it('refuses strings Postgres cannot store, naming where they are', async () => {
    const nul = await post('/task', newTask(undefined, { task_data: { nested: { text: 'a\u0000b' } } }));
    expectError(nul, 400, 'AFM_ERR_VALIDATION', 'body.task_data.nested.text');
    expectError(await post('/task', newTask(undefined, { task_data: { ['k\ud800']: 1 } })), 400, 'AFM_ERR_VALIDATION', 'body.task_data');
    expectError(await post('/tasks', newPoll({}, { agent_name: 'x\u0000' })), 400, 'AFM_ERR_VALIDATION', 'body.agent_name');
    const error = await post('/tasks/response', { protocol: 1, task_id: randomUUID(), task_error: '\udc00' });
    expectError(error, 400, 'AFM_ERR_VALIDATION', 'body.task_error');
  });

  it('reads an oversized body to its end and answers 413 over real HTTP', async () => {
    const address = await h.app.listen({ port: 0, host: '127.0.0.1' });
    const response = await fetch(`${address}/tasks`, { method: 'POST', body: `[${'1,'.repeat(2 * 1024 * 1024)}1]` });
    expect(response.status).toBe(413);
    expect(await response.json()).toMatchObject({ code: 'AFM_ERR_PAYLOAD_TOO_LARGE' });
  });

  it('answers 404 JSON for an unknown route', async () => {
    expectError(await get('/nope'), 404, 'AFM_ERR_ROUTE_NOT_FOUND');
    expectError(await h.app.inject({ method: 'DELETE', url: '/status' }), 404, 'AFM_ERR_ROUTE_NOT_FOUND');
  });
});
