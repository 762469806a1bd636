// Issue 5: the read API — filters as query parameters, cursor pagination, everything known about a
// task, test runs, agents, queues, and creating a task with generated ids.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordOutcome } from '@afm/shared/db/tasks';
import { syncAgents, syncClaims } from '@afm/worker/services/sync.service';
import { LIST_DATA_BYTES } from '@afm/shared/ops/tasks';
import { buildApp } from '../src/app.js';
import { openApiDeps } from '../src/deps.js';
import { startApiHarness, type ApiHarness } from './harness.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApiHarness('read-api', { AGENT_ACTIVE_THRESHOLD: '60' });
});
afterAll(() => h.close());

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const get = async (url: string) => {
  const response = await h.app.inject({ method: 'GET', url });
  return { status: response.statusCode, body: response.json() };
};
const sync = () => Promise.all([syncClaims(h.deps as never), syncAgents(h.deps as never)]);

const testId = randomUUID();
const type = `r-${randomUUID().slice(0, 6)}`;
const agentId = randomUUID();
let ids: string[] = [];

beforeAll(async () => {
  ids = [];
  for (let n = 0; n < 7; n++) {
    const task = { task_id: randomUUID(), test_id: testId, task_type: type, task_version: 1 + (n % 2), task_data: { n } };
    expect((await h.app.inject({ method: 'POST', url: '/task', ...json(task) })).statusCode).toBe(200);
    ids.push(task.task_id);
  }
  const poll = {
    protocol: 1,
    agent_id: agentId,
    agent_name: 'reader',
    agent_time: 't',
    agent_location: { country: 'SE', region: 'AB', latitude: 59.3 },
    agent_capabilities: { [type]: { version: 1 } },
    max_tasks: 2,
  };
  expect((await h.app.inject({ method: 'POST', url: '/tasks', ...json(poll) })).json().tasks).toHaveLength(2);
  await h.app.inject({ method: 'POST', url: '/tasks/response', ...json({ protocol: 1, task_id: ids[0], task_data: { ok: true } }) });
  await recordOutcome(h.deps.db, {
    task_id: ids[0]!,
    outcome: { state: 'completed', result: { ok: true } },
    finished_at: Date.now(),
    agent_id: agentId,
    claimed_at: Date.now() - 10,
  });
  await sync();
});

describe('GET /api/tasks', () => {
  it('filters by location and by posting time', async () => {
    const located = {
      task_id: randomUUID(),
      test_id: randomUUID(),
      task_type: `${type}-located`,
      task_version: 1,
      task_data: {},
      task_location: { country: 'se' },
    };
    expect((await h.app.inject({ method: 'POST', url: '/task', ...json(located) })).statusCode).toBe(200);
    const inSweden = await get('/api/tasks?country=se');
    expect(inSweden.body.items.map((task: { task_id: string }) => task.task_id)).toEqual([located.task_id]);
    const posted = Date.parse(inSweden.body.items[0].posted_at);
    const after = await get(`/api/tasks?test_id=${located.test_id}&posted_after=${new Date(posted).toISOString()}`);
    expect(after.body.items.map((task: { task_id: string }) => task.task_id)).toEqual([located.task_id]);
    const before = await get(`/api/tasks?posted_before=${new Date(posted).toISOString()}&limit=500`);
    expect(before.body.items.map((task: { task_id: string }) => task.task_id)).not.toContain(located.task_id);
    expect(before.body.items.length).toBeGreaterThan(0);
    const bad = await get('/api/tasks?posted_after=yesterday');
    expect(bad.status).toBe(400);
    expect(bad.body.message).toMatch(/posted_after/);
    expect((await get('/api/tasks?country=SWE')).status).toBe(400);
  });

  it('lists newest first, a page at a time, with a cursor', async () => {
    const first = await get(`/api/tasks?test_id=${testId}&limit=3`);
    expect(first.status).toBe(200);
    expect(first.body.items.map((t: { task_id: string }) => t.task_id)).toEqual([...ids].reverse().slice(0, 3));
    const rest = [];
    let cursor = first.body.next_cursor;
    while (cursor) {
      const page = await get(`/api/tasks?test_id=${testId}&limit=3&cursor=${cursor}`);
      rest.push(...page.body.items);
      cursor = page.body.next_cursor;
    }
    expect([...first.body.items, ...rest].map((t: { task_id: string }) => t.task_id)).toEqual([...ids].reverse());
  });

  it('filters by state, type, version and agent', async () => {
    expect((await get(`/api/tasks?type=${type}&version=2`)).body.items).toHaveLength(3);
    expect((await get(`/api/tasks?type=${type}&state=completed`)).body.items.map((t: { task_id: string }) => t.task_id)).toEqual([ids[0]]);
    expect((await get(`/api/tasks?type=${type}&state=claimed`)).body.items).toHaveLength(1);
    expect((await get(`/api/tasks?agent_id=${agentId}`)).body.items).toHaveLength(2);
  });

  it('refuses bad query parameters with a 400 naming them', async () => {
    for (const [query, field] of [
      ['state=done', 'querystring.state'],
      ['limit=0', 'querystring.limit'],
      ['limit=many', 'querystring.limit'],
      ['test_id=nope', 'querystring.test_id'],
      ['sort=asc', 'unknown field "sort"'],
      ['cursor=garbage', 'cursor'],
    ]) {
      const response = await get(`/api/tasks?${query}`);
      expect(response.status, query).toBe(400);
      expect(response.body.message, query).toContain(field);
    }
  });
});

describe('lists of large tasks (issue 11)', () => {
  it('end a page at LIST_DATA_BYTES of data and results, however many items were asked for; the cursor goes on', async () => {
    const testId = randomUUID();
    const type = `large-${randomUUID().slice(0, 6)}`;
    const blob = 'x'.repeat(250_000);
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) {
      const task = { task_id: randomUUID(), test_id: testId, task_type: type, task_version: 1, task_data: { blob, n } };
      expect((await h.app.inject({ method: 'POST', url: '/task', ...json(task) })).statusCode).toBe(200);
      ids.push(task.task_id);
    }
    const first = (await h.app.inject({ method: 'GET', url: `/api/tasks?type=${type}&limit=500` })).json();
    expect(first.items).toHaveLength(Math.floor(LIST_DATA_BYTES / 250_000));
    expect(first.next_cursor).toEqual(expect.any(String));
    const rest = (
      await h.app.inject({ method: 'GET', url: `/api/tasks?type=${type}&limit=500&cursor=${encodeURIComponent(first.next_cursor)}` })
    ).json();
    expect([...first.items, ...rest.items].map((task: { task_id: string }) => task.task_id).sort()).toEqual([...ids].sort());
    const run = (await h.app.inject({ method: 'GET', url: `/api/tests/${testId}` })).json();
    expect(run.summary.total, 'the summary counts every task').toBe(5);
    expect(run.tasks).toHaveLength(Math.floor(LIST_DATA_BYTES / 250_000));
  });
});

describe('GET /api/tasks/:id and /api/tests/:id', () => {
  it('shows everything known about a task', async () => {
    const { status, body } = await get(`/api/tasks/${ids[0]}`);
    expect(status).toBe(200);
    expect(body).toMatchObject({
      task_id: ids[0],
      test_id: testId,
      task_type: type,
      task_version: 1,
      task_data: { n: 0 },
      state: 'completed',
      task_result: { ok: true },
      task_completed: expect.stringMatching(/\+00:00$/),
      task_attempts: expect.any(Number),
      agent_id: agentId,
      posted_at: expect.stringMatching(/\+00:00$/),
      claimed_at: expect.any(String),
      finished_at: expect.any(String),
      stored_at: expect.stringMatching(/\+00:00$/),
    });
    expect(body).not.toHaveProperty('task_error');
    expect((await get(`/api/tasks/${randomUUID()}`)).status).toBe(404);
    expect((await get('/api/tasks/nope')).status).toBe(400);
  });

  it('is one shape: every field of GET /task/<id>, the same, in /api/tasks, /api/tasks/<id> and /api/tests/<id>', async () => {
    for (const id of [ids[0], ids[6]]) {
      const protocol = (await get(`/task/${id}`)).body;
      const pick = (view: Record<string, unknown>) => Object.fromEntries(Object.keys(protocol).map((key) => [key, view[key]]));
      expect(pick((await get(`/api/tasks/${id}`)).body)).toEqual(protocol);
      const listed = (await get(`/api/tasks?test_id=${testId}&limit=50`)).body.items.find(
        (task: { task_id: string }) => task.task_id === id,
      );
      expect(pick(listed)).toEqual(protocol);
      const inRun = (await get(`/api/tests/${testId}`)).body.tasks.find((task: { task_id: string }) => task.task_id === id);
      expect(pick(inRun)).toEqual(protocol);
    }
  });

  it('shows a test run with its summary, oldest task first', async () => {
    const { body } = await get(`/api/tests/${testId}`);
    expect(body.summary).toMatchObject({ total: 7, waiting: 5, claimed: 1, completed: 1, failed: 0, last_finished: null });
    expect(body.tasks.map((t: { task_id: string }) => t.task_id)).toEqual(ids);
    expect((await get(`/api/tests/${randomUUID()}`)).status).toBe(404);
  });
});

describe('GET /api/agents, /api/agents/:id, /api/queues, /api/summary', () => {
  it('lists agents with active flag, capabilities, location and task counts', async () => {
    const { body } = await get('/api/agents?active=true');
    const agent = body.items.find((a: { agent_id: string }) => a.agent_id === agentId);
    expect(agent).toMatchObject({
      name: 'reader',
      active: true,
      location: { country: 'SE', region: 'AB', latitude: 59.3, longitude: null },
      capabilities: [{ task_type: type, task_version: 1 }],
      tasks: { assigned: 1, completed: 1, failed: 0 },
    });
    expect((await get('/api/agents?active=false')).body.items.some((a: { agent_id: string }) => a.agent_id === agentId)).toBe(false);
    expect((await get(`/api/agents/${agentId}`)).body.held).toEqual([ids[2]]); // version 1 only: tasks 0 and 2, 0 answered
    expect((await get(`/api/agents/${randomUUID()}`)).status).toBe(404);
  });

  it('pages through agents', async () => {
    for (let n = 0; n < 4; n++) {
      const poll = { protocol: 1, agent_id: randomUUID(), agent_name: `p${n}`, agent_time: 't', agent_capabilities: {}, max_tasks: 0 };
      await h.app.inject({ method: 'POST', url: '/tasks', ...json(poll) });
    }
    await sync();
    const seen = new Set<string>();
    let cursor: string | null = null;
    do {
      const page: { body: { items: { agent_id: string }[]; next_cursor: string | null } } = await get(
        `/api/agents?limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      );
      expect(page.body.items.length).toBeLessThanOrEqual(2);
      for (const agent of page.body.items) seen.add(agent.agent_id);
      cursor = page.body.next_cursor;
    } while (cursor);
    expect(seen.size).toBe(5);
  });

  it('shows queues per type and version, and a summary', async () => {
    const queues = (await get('/api/queues')).body.filter((q: { task_type: string }) => q.task_type === type);
    expect(queues).toEqual([
      expect.objectContaining({ task_version: 1, waiting: 2, in_progress: 1, paused: false }),
      expect.objectContaining({ task_version: 2, waiting: 3, in_progress: 0 }),
    ]);
    const summary = (await get('/api/summary')).body;
    expect(summary.agents.active).toBeGreaterThanOrEqual(1);
    expect(summary.tasks.waiting).toBeGreaterThanOrEqual(5);
    expect(summary.events.posted).toBeGreaterThanOrEqual(7);
  });

  it('shows the queues with Postgres unreachable: active agents unknown (null)', async () => {
    const deps = await openApiDeps({ ...h.env.config, DATABASE_URI: 'postgres://afm@127.0.0.1:1/afm' }, h.env.logger);
    const app = await buildApp(deps);
    try {
      const response = await app.inject({ method: 'GET', url: '/api/queues' });
      expect(response.statusCode, response.body).toBe(200);
      const queues = response.json().filter((q: { task_type: string }) => q.task_type === type);
      expect(queues).toEqual([
        expect.objectContaining({ task_version: 1, waiting: 2, active_agents: null, no_capable_agent: null }),
        expect.objectContaining({ task_version: 2, waiting: 3, active_agents: null, no_capable_agent: null }),
      ]);
      // With Postgres up, the same queues' agents are known.
      expect((await get('/api/queues')).body.find((q: { task_type: string }) => q.task_type === type)).toMatchObject({
        active_agents: expect.any(Number),
      });
    } finally {
      await app.close();
      await deps.close();
    }
  });
});

describe('POST /api/tasks', () => {
  it('creates a task, generating its ids, and returns it', async () => {
    const response = await h.app.inject({
      method: 'POST',
      url: '/api/tasks',
      ...json({ task_type: 'made', task_version: 2, task_data: { a: 1 } }),
    });
    expect(response.statusCode).toBe(201);
    const task = response.json();
    expect(task).toMatchObject({
      task_type: 'made',
      task_version: 2,
      task_data: { a: 1 },
      state: 'waiting',
      task_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      test_id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    });
    expect((await h.app.inject({ method: 'GET', url: `/task/${task.task_id}` })).statusCode).toBe(200);
  });

  it('keeps given ids and refuses a used one for another task, like POST /task', async () => {
    const ids = { task_id: randomUUID(), test_id: randomUUID() };
    const made = await h.app.inject({ method: 'POST', url: '/api/tasks', ...json({ ...ids, task_type: 'made', task_version: 1 }) });
    expect(made.json()).toMatchObject(ids);
    const same = await h.app.inject({ method: 'POST', url: '/api/tasks', ...json({ ...ids, task_type: 'made', task_version: 1 }) });
    expect(same.statusCode).toBe(201);
    const again = await h.app.inject({ method: 'POST', url: '/api/tasks', ...json({ ...ids, task_type: 'made', task_version: 2 }) });
    expect(again.statusCode).toBe(400);
    expect(again.json().code).toBe('AFM_ERR_DUPLICATE_TASK');
    const bad = await h.app.inject({ method: 'POST', url: '/api/tasks', ...json({ task_type: 'made', task_version: 'one' }) });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().message).toContain('body.task_version');
  });
});
