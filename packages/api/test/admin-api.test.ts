// Issue 15: every operator action over HTTP with an admin token — queues pause, resume and drain (Redis
// only, so they work while Postgres is down), task cancel and retry, agent drop.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordOutcome } from '@afm/shared/db/tasks';
import { buildApp } from '../src/app.js';
import { openApiDeps, type OpenedApiDeps } from '../src/deps.js';
import { startApiHarness, type ApiHarness } from './harness.js';

const ADMIN = 'admin-token-for-the-admin-api-test';
const AGENT = 'agent-token-for-the-admin-api-test';
const admin = { authorization: `Bearer ${ADMIN}` };

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness('admin-api', { ADMIN_TOKENS: ADMIN, AGENT_TOKENS: AGENT, BPMS_TOKENS: 'bpms-token-for-the-admin-api-test' });
});
afterAll(() => h.close());

type Injected = { status: number; body: Record<string, unknown> & { [key: string]: any } };
async function call(
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  body?: unknown,
  headers: Record<string, string> = admin,
): Promise<Injected> {
  const response = await h.app.inject({
    method,
    url,
    headers: { ...headers, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
  });
  return { status: response.statusCode, body: response.json() };
}

const post = (type: string, extra: Record<string, unknown> = {}) => {
  const task = { task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: { n: 1 }, ...extra };
  return call('POST', '/api/tasks', task).then((reply) => {
    expect(reply.status).toBe(201);
    return task;
  });
};

const agentId = randomUUID();
const poll = async (type: string, max = 5, agent = agentId) => {
  const response = await h.app.inject({
    method: 'POST',
    url: '/tasks',
    headers: { authorization: `Bearer ${AGENT}`, 'content-type': 'application/json' },
    payload: JSON.stringify({
      protocol: 1,
      agent_id: agent,
      agent_name: 'admin-api',
      agent_time: 't',
      agent_capabilities: { [type]: { version: 1 } },
      max_tasks: max,
    }),
  });
  expect(response.statusCode).toBe(200);
  return (response.json().tasks as { task_id: string }[]).map((task) => task.task_id);
};

describe('admin routes need an admin token', () => {
  it.each([
    ['POST', '/api/queues/x/pause'],
    ['POST', '/api/tasks/00000000-0000-4000-8000-000000000000/cancel'],
    ['DELETE', '/api/agents/00000000-0000-4000-8000-000000000000'],
  ] as const)('%s %s: 401 without a token, 403 with an agent token', async (method, url) => {
    expect((await call(method, url, undefined, {})).status).toBe(401);
    const forbidden = await call(method, url, undefined, { authorization: `Bearer ${AGENT}` });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body.code).toBe('AFM_ERR_FORBIDDEN');
  });
});

describe('writes from a page of another origin', () => {
  it('are refused (403), by Sec-Fetch-Site or by Origin; the dashboard and clients that are not browsers pass', async () => {
    const type = `csrf-${randomUUID().slice(0, 8)}`;
    await post(type);
    const pause = (headers: Record<string, string>) =>
      h.app.inject({ method: 'POST', url: `/api/queues/${type}/pause`, headers: { ...admin, host: 'afm.local:8080', ...headers } });
    for (const headers of [
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
      { origin: 'http://evil.invalid' },
      { origin: 'null' },
    ] as Record<string, string>[]) {
      const refused = await pause(headers);
      expect(refused.statusCode, JSON.stringify(headers)).toBe(403);
      expect(refused.json().message).toMatch(/another origin/);
    }
    const create = await h.app.inject({
      method: 'POST',
      url: '/api/tasks',
      headers: { 'content-type': 'text/plain', 'sec-fetch-site': 'cross-site' },
      payload: JSON.stringify({ task_type: type, task_version: 1 }),
    });
    expect(create.statusCode).toBe(403);
    expect((await pause({ 'sec-fetch-site': 'same-origin', origin: 'http://afm.local:8080' })).statusCode).toBe(200);
    expect((await pause({ origin: 'http://afm.local:8080' })).statusCode).toBe(200);
    expect((await pause({})).statusCode).toBe(200);
    // Reads are not affected.
    expect(
      (await h.app.inject({ method: 'GET', url: '/api/queues', headers: { ...admin, 'sec-fetch-site': 'cross-site' } })).statusCode,
    ).toBe(200);
  });
});

describe('queues', () => {
  it('pause holds the tasks back from agents, resume hands them out again', async () => {
    const type = `pause-${randomUUID().slice(0, 8)}`;
    const task = await post(type);
    const paused = await call('POST', `/api/queues/${type}/pause`);
    expect(paused).toEqual({ status: 200, body: { paused: true, queues: [{ task_type: type, task_version: 1, location: null }] } });
    expect(await poll(type)).toEqual([]);
    const queues = (await call('GET', '/api/queues')).body as unknown as { task_type: string; paused: boolean }[];
    expect(queues.find((queue) => queue.task_type === type)?.paused).toBe(true);
    expect((await call('POST', `/api/queues/${type}/resume`)).body.paused).toBe(false);
    expect(await poll(type)).toEqual([task.task_id]);
  });

  it('pauses only the version asked for', async () => {
    const type = `ver-${randomUUID().slice(0, 8)}`;
    await post(type);
    await post(type, { task_version: 2 });
    const reply = await call('POST', `/api/queues/${type}/pause?version=2`);
    expect(reply.body.queues).toEqual([{ task_type: type, task_version: 2, location: null }]);
    expect(await poll(type)).toHaveLength(1);
  });

  it('answers 404 for a type without a queue, and 400 naming a bad version', async () => {
    const missing = await call('POST', '/api/queues/no-such-type/pause');
    expect(missing.status).toBe(404);
    expect(missing.body.code).toBe('AFM_ERR_QUEUE_NOT_FOUND');
    const bad = await call('POST', '/api/queues/x/pause?version=two');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/version/);
  });

  it('drain fails the waiting tasks with the reason, which the BPMS reads as task_error', async () => {
    const type = `drain-${randomUUID().slice(0, 8)}`;
    const tasks = [await post(type), await post(type)];
    const reply = await call('POST', `/api/queues/${type}/drain`, { reason: 'check retired' });
    expect(reply).toEqual({ status: 200, body: { queues: [{ task_type: type, task_version: 1, location: null, drained: 2 }] } });
    // The worker writes the outcomes to Postgres; Redis has them at once.
    for (const task of tasks) expect((await call('GET', `/api/tasks/${task.task_id}`)).body.live_state).toBe('answered');
    const queues = (await call('GET', '/api/queues')).body as unknown as {
      task_type: string;
      waiting: number;
      events: { drained: number };
    }[];
    expect(queues.find((queue) => queue.task_type === type)).toMatchObject({ waiting: 0, events: { drained: 2 } });
  });

  it('drain without a reason is a 400 naming body.reason', async () => {
    const reply = await call('POST', '/api/queues/x/drain', {});
    expect(reply.status).toBe(400);
    expect(reply.body.message).toMatch(/reason/);
  });

  it('work while Postgres is down: queue state lives in Redis', async () => {
    const type = `nopg-${randomUUID().slice(0, 8)}`;
    await post(type);
    let deps: OpenedApiDeps | undefined;
    const app = await buildApp(
      (deps = await openApiDeps({ ...h.env.config, DATABASE_URI: 'postgres://postgres@127.0.0.1:9/none' }, h.env.logger)),
    );
    try {
      for (const action of ['pause', 'resume', 'pause'] as const) {
        const reply = await app.inject({ method: 'POST', url: `/api/queues/${type}/${action}`, headers: admin });
        expect(reply.statusCode, reply.body).toBe(200);
      }
      expect(await poll(type)).toEqual([]);
      const drained = await app.inject({
        method: 'POST',
        url: `/api/queues/${type}/drain`,
        headers: { ...admin, 'content-type': 'application/json' },
        payload: JSON.stringify({ reason: 'no database today' }),
      });
      expect(drained.json().queues[0].drained).toBe(1);
    } finally {
      await app.close();
      await deps.close();
    }
  });
});

describe('tasks', () => {
  it('cancel fails a waiting task with "cancelled"; a finished task is a 409', async () => {
    const task = await post(`cancel-${randomUUID().slice(0, 8)}`);
    const reply = await call('POST', `/api/tasks/${task.task_id}/cancel`);
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ task_id: task.task_id, task_error: 'cancelled' });
    // Cancelling again answers as the first time did.
    expect((await call('POST', `/api/tasks/${task.task_id}/cancel`)).status).toBe(200);
    expect((await call('POST', `/api/tasks/${randomUUID()}/cancel`)).status).toBe(404);
  });

  it('retry posts a finished task again as a new task of the same test run', async () => {
    const type = `retry-${randomUUID().slice(0, 8)}`;
    const task = await post(type, { task_ttl: 600, task_location: { country: 'fi' } });
    const early = await call('POST', `/api/tasks/${task.task_id}/retry`);
    expect(early.status, JSON.stringify(early.body)).toBe(409);
    await recordOutcome(h.deps.db, {
      task_id: task.task_id,
      outcome: { state: 'failed', error: 'boom', cause: 'agent_error' },
      finished_at: Date.now(),
      agent_id: null,
      claimed_at: null,
    });
    const fiQueue = async () =>
      ((await call('GET', '/api/queues')).body as unknown as { task_type: string; location: unknown; waiting: number }[]).find(
        (queue) => queue.task_type === type,
      );
    // The original was finished in Postgres only (as if its outcome were being written), so Redis still counts it.
    expect(await fiQueue()).toMatchObject({ location: { country: 'FI' }, waiting: 1 });
    const newId = randomUUID();
    const reply = await call('POST', `/api/tasks/${task.task_id}/retry`, { task_id: newId });
    expect(reply.status).toBe(201);
    expect(reply.body).toMatchObject({
      task_id: newId,
      retry_of: task.task_id,
      test_id: task.test_id,
      task_type: type,
      task_data: { n: 1 },
      state: 'waiting',
    });
    // Given the same id, a repeat is the same post: no third task.
    expect((await call('POST', `/api/tasks/${task.task_id}/retry`, { task_id: newId })).status).toBe(201);
    const run = await call('GET', `/api/tests/${task.test_id}`);
    expect(run.body.summary.total).toBe(2);
    // The copy keeps the options: it waits in the location's queue.
    expect(await fiQueue()).toMatchObject({ location: { country: 'FI' }, waiting: 2 });
  });
});

describe('agents', () => {
  it('drop fails the tasks the agent holds and forgets it; an unknown agent is a 404', async () => {
    const type = `drop-${randomUUID().slice(0, 8)}`;
    const task = await post(type);
    const dropped = randomUUID();
    expect(await poll(type, 5, dropped)).toEqual([task.task_id]);
    const reply = await call('DELETE', `/api/agents/${dropped}`);
    expect(reply).toEqual({ status: 200, body: { agent_id: dropped, failed_tasks: 1 } });
    expect((await call('GET', `/api/tasks/${task.task_id}`)).body.live_state).toBe('answered');
    expect((await call('DELETE', `/api/agents/${dropped}`)).status).toBe(404);
  });
});
