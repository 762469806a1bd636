// Issue 7, beyond protocol v1: task_ttl, task_timeout, task_retries, task_location, cancel, long polls.
// API through inject; the worker's services run by hand with a chosen clock, so no test sleeps.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { taskQueueName } from '@afm/shared/queues';
import { waitFor } from '@afm/shared/testing/wait';
import { dropAgent } from '@afm/shared/ops/agents';
import { cleanup } from '@afm/worker/services/cleanup.service';
import { requeueUnsavedResults } from '@afm/worker/services/reconcile.service';
import { deadlines } from '@afm/worker/services/deadlines.service';
import { recordResult } from '@afm/worker/services/results.service';
import { syncAgents, syncClaims } from '@afm/worker/services/sync.service';
import { openWorkerDeps, type OpenedWorkerDeps } from '@afm/worker/deps';
import { buildApp } from '../src/app.js';
import { pollTasks } from '../src/domain/poll.js';
import { openApiDeps, type OpenedApiDeps } from '../src/deps.js';
import { startApiHarness, type ApiHarness } from './harness.js';

let h: ApiHarness;
let worker: OpenedWorkerDeps;
let other: { deps: OpenedApiDeps; app: Awaited<ReturnType<typeof buildApp>> };
beforeAll(async () => {
  h = await startApiHarness('extensions', { AGENT_ACTIVE_THRESHOLD: '60' });
  worker = await openWorkerDeps(h.env.config, h.env.logger);
  const deps = await openApiDeps(h.env.config, h.env.logger); // a second replica
  other = { deps, app: await buildApp(deps) };
});
afterAll(async () => {
  await other.app.close();
  await other.deps.close();
  await worker.close();
  await h.close();
});

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
const postTask = (body: unknown, app = h.app) => app.inject({ method: 'POST', url: '/task', ...json(body) });
const view = async (id: string) => (await h.app.inject({ method: 'GET', url: `/task/${id}` })).json();
const newTask = (type: string, options: Record<string, unknown> = {}) => ({
  task_id: randomUUID(),
  test_id: randomUUID(),
  task_type: type,
  task_version: 1,
  task_data: { n: 1 },
  ...options,
});
const pollBody = (types: string[], extra: Record<string, unknown> = {}) => ({
  protocol: 1,
  agent_id: randomUUID(),
  agent_name: 'ext',
  agent_time: 't',
  agent_capabilities: Object.fromEntries(types.map((type) => [type, { version: 1 }])),
  max_tasks: 5,
  ...extra,
});
const poll = async (body: ReturnType<typeof pollBody>, { app = h.app, wait }: { app?: typeof h.app; wait?: number } = {}) => {
  const response = await app.inject({ method: 'POST', url: `/tasks${wait === undefined ? '' : `?wait=${wait}`}`, ...json(body) });
  expect(response.statusCode, response.body).toBe(200);
  return (response.json().tasks as { task_id: string }[]).map((task) => task.task_id);
};
const respond = (taskId: string, body: Record<string, unknown> = { task_data: { ok: true } }) =>
  h.app.inject({ method: 'POST', url: '/tasks/response', ...json({ protocol: 1, task_id: taskId, ...body }) });

/** What the worker's results consumer does with the jobs queued so far. */
async function persist() {
  for (const job of await worker.dispatch.results.getJobs(['waiting', 'prioritized'])) {
    await recordResult(worker, job.data);
    await job.remove();
  }
}
const type = () => `x-${randomUUID().slice(0, 8)}`;

describe('new fields of POST /task', () => {
  it('are optional, validated, and shown on GET /task with the attempt count', async () => {
    const t = type();
    const task = newTask(t, { task_ttl: 30, task_timeout: 10.5, task_retries: 2, task_location: { country: 'fi', region: '18' } });
    expect((await postTask(task)).statusCode).toBe(200);
    expect(await view(task.task_id)).toMatchObject({
      task_ttl: 30,
      task_timeout: 10.5,
      task_retries: 2,
      task_location: { country: 'FI', region: '18' },
      task_attempts: 0,
    });
    for (const [field, value] of [
      ['task_ttl', 0],
      ['task_ttl', 'soon'],
      ['task_timeout', -1],
      ['task_retries', 1.5],
      ['task_retries', -1],
      ['task_location', { country: 'FIN' }],
      ['task_location', { country: 'FI', city: 'Espoo' }],
      ['task_location', 'FI'],
    ] as const) {
      const response = await postTask(newTask(t, { [field]: value }));
      expect(response.statusCode, `${field}=${JSON.stringify(value)}`).toBe(400);
      expect(response.json().message).toContain(`body.${field}`);
    }
  });

  it('leave old clients with exactly the old behaviour and keys', async () => {
    const task = newTask(type());
    await postTask(task);
    expect(Object.keys(await view(task.task_id)).sort()).toEqual(['task_data', 'task_id', 'task_type', 'task_version', 'test_id']);
  });
});

describe('task_ttl', () => {
  it('fails a task no agent claimed in time, saying it expired; a claimed one is not touched', async () => {
    const t = type();
    const [late, taken] = [newTask(t, { task_ttl: 2 }), newTask(t, { task_ttl: 2 })];
    await postTask(late);
    await postTask(taken);
    expect(await poll(pollBody([t], { max_tasks: 1 }))).toEqual([late.task_id]); // oldest first
    await deadlines(worker, Date.now() + 1_000);
    expect((await h.app.inject({ method: 'GET', url: '/status' })).json().tasks_waiting).toBeGreaterThanOrEqual(1);
    await deadlines(worker, Date.now() + 2_500);
    await persist();
    expect(await view(taken.task_id)).toMatchObject({
      task_failed: expect.any(String),
      task_error: 'expired: not claimed within task_ttl (2 s)',
    });
    expect(await view(late.task_id)).not.toHaveProperty('task_failed');
    expect(await poll(pollBody([t]))).toEqual([]);
  });

  it('lets exactly one of expiry and claim win a race, and each wins some', async () => {
    // Rounds of polls racing an expiry run until each side has won at least once.
    let claimedWins = 0;
    let expiryWins = 0;
    for (let round = 0; round < 40 && (claimedWins === 0 || expiryWins === 0); round++) {
      const t = type();
      const tasks = Array.from({ length: 6 }, () => newTask(t, { task_ttl: 1 }));
      for (const task of tasks) await postTask(task);
      // Claims and the expiry go to Redis on two connections at once; each round one side starts a
      // turn of the event loop ahead, so over the rounds both get to win.
      const claim = () =>
        h.deps.dispatch.claimTasks({
          agentId: randomUUID(),
          name: 'race',
          location: '',
          capabilities: '{}',
          agentTime: 't',
          maxTasks: 1,
          queues: [taskQueueName(t, 1)],
          now: Date.now(),
        });
      const turn = () => new Promise((resolve) => setImmediate(resolve));
      const claimsFirst = round % 2 === 0;
      const claims = claimsFirst ? Array.from({ length: 6 }, claim) : [];
      const expiry = claimsFirst ? turn().then(() => deadlines(worker, Date.now() + 1_500)) : deadlines(worker, Date.now() + 1_500);
      if (!claimsFirst) await turn().then(() => claims.push(...Array.from({ length: 6 }, claim)));
      const [claimedLists] = await Promise.all([Promise.all(claims), expiry]);
      await persist();
      const claimed = new Set(claimedLists.flat().map((job) => (JSON.parse(job.data) as { task_id: string }).task_id));
      for (const task of tasks) {
        const seen = await view(task.task_id);
        if (claimed.has(task.task_id)) {
          expect(seen).not.toHaveProperty('task_failed');
          claimedWins++;
        } else {
          expect(seen.task_error).toMatch(/^expired/);
          expiryWins++;
        }
      }
    }
    expect(claimedWins, 'claims that won').toBeGreaterThan(0);
    expect(expiryWins, 'expiries that won').toBeGreaterThan(0);
  });
});

describe('task_timeout and task_retries', () => {
  it('fails a task whose agent gives no result in time; the late result is refused', async () => {
    const t = type();
    const task = newTask(t, { task_timeout: 1 });
    await postTask(task);
    expect(await poll(pollBody([t]))).toEqual([task.task_id]);
    await deadlines(worker, Date.now() + 1_500);
    await persist();
    expect((await view(task.task_id)).task_error).toMatch(/^timed out: no result within task_timeout \(1 s\)/);
    expect((await respond(task.task_id)).statusCode).toBe(400);
  });

  it('puts a timed-out task back at the front of its queue while retries are left, then fails it', async () => {
    const t = type();
    const task = newTask(t, { task_timeout: 1, task_retries: 1 });
    await postTask(task);
    const first = pollBody([t], { max_tasks: 1 });
    expect(await poll(first)).toEqual([task.task_id]);
    await postTask(newTask(t)); // posted later: the retried task goes before it
    await deadlines(worker, Date.now() + 1_500);
    expect((await respond(task.task_id)).statusCode).toBe(400); // the first agent's late result
    const second = pollBody([t], { max_tasks: 1 });
    expect(await poll(second)).toEqual([task.task_id]);
    await syncClaims(worker);
    expect(await view(task.task_id)).toMatchObject({ task_attempts: 2 });
    await deadlines(worker, Date.now() + 1_500);
    await persist();
    expect(await view(task.task_id)).toMatchObject({ task_error: expect.stringMatching(/^timed out/), task_attempts: 2 });
  });

  it("retries a silent agent's task, never an agent's own task_error", async () => {
    const t = type();
    const [silent, erred] = [newTask(t, { task_retries: 3 }), newTask(t, { task_retries: 3 })];
    await postTask(silent);
    await postTask(erred);
    const agent = pollBody([t]);
    expect(await poll(agent)).toEqual([silent.task_id, erred.task_id]);
    expect((await respond(erred.task_id, { task_error: 'HTTP 500' })).statusCode).toBe(200);
    await cleanup(worker, Date.now() + 61_000);
    await persist();
    expect(await view(erred.task_id)).toMatchObject({ task_error: 'HTTP 500' });
    expect(await view(silent.task_id)).not.toHaveProperty('task_failed');
    const next = pollBody([t]);
    expect(await poll(next)).toEqual([silent.task_id]);
    expect((await respond(silent.task_id)).statusCode).toBe(200);
    await persist();
    expect(await view(silent.task_id)).toMatchObject({ task_result: { ok: true }, task_attempts: 2 });
  });

  it('lets exactly one of a retry and a late result win', async () => {
    const t = type();
    const tasks = Array.from({ length: 40 }, () => newTask(t, { task_timeout: 1, task_retries: 1 }));
    for (const task of tasks) await postTask(task);
    const first = pollBody([t], { max_tasks: 40 });
    expect(await poll(first)).toHaveLength(40);
    const [, replies] = await Promise.all([deadlines(worker, Date.now() + 1_500), Promise.all(tasks.map((task) => respond(task.task_id)))]);
    const requeued = new Set(await poll(pollBody([t], { max_tasks: 40 })));
    tasks.forEach((task, index) => {
      // accepted ⇔ not handed out again
      expect(replies[index]!.statusCode === 200, task.task_id).toBe(!requeued.has(task.task_id));
    });
  });
});

describe('task_location', () => {
  it('goes only to agents in that country (and region)', async () => {
    const t = type();
    const country = newTask(t, { task_location: { country: 'FI' } });
    const region = newTask(t, { task_location: { country: 'FI', region: '18' } });
    await postTask(country);
    await postTask(region);
    expect(await poll(pollBody([t]))).toEqual([]); // no location
    expect(await poll(pollBody([t], { agent_location: { country: 'SE', region: 'AB' } }))).toEqual([]);
    expect(await poll(pollBody([t], { agent_location: { country: 'fi', region: '19' } }))).toEqual([country.task_id]);
    expect(await poll(pollBody([t], { agent_location: { country: 'FI', region: '18' } }))).toEqual([region.task_id]);
  });

  it('shows tasks waiting where no active agent can run them, in /api/queues and the metrics', async () => {
    const t = type();
    await postTask(newTask(t, { task_location: { country: 'NO' } }));
    await postTask(newTask(t, { task_location: { country: 'DK' } }));
    await poll(pollBody([t], { agent_location: { country: 'DK', region: '84' }, max_tasks: 0 }));
    await syncAgents(worker);
    const queues = (await h.app.inject({ method: 'GET', url: '/api/queues' }))
      .json()
      .filter((q: { task_type: string }) => q.task_type === t);
    expect(queues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ location: { country: 'NO' }, active_agents: 0, waiting: 1 }),
        expect.objectContaining({ location: { country: 'DK' }, active_agents: 1, waiting: 1 }),
      ]),
    );
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics/fleet' })).body;
    expect(metrics).toContain(`afm_tasks_waiting_without_agent{task_type="${t}",task_version="1",location="NO"} 1`);
    expect(metrics).not.toContain(`afm_tasks_waiting_without_agent{task_type="${t}",task_version="1",location="DK"}`);
  });

  it('flags plain queues no active agent can take from too, whatever its location', async () => {
    const [orphan, served] = [type(), type()];
    await postTask(newTask(orphan));
    await postTask(newTask(orphan, { task_version: 2 }));
    await postTask(newTask(served));
    // An agent with a location polls the plain queues too; it runs version 2 of `orphan` only.
    await poll(pollBody([served], { agent_location: { country: 'DK', region: '84' }, max_tasks: 0 }));
    await poll({ ...pollBody([]), agent_capabilities: { [orphan]: { version: 2 } }, max_tasks: 0 });
    await syncAgents(worker);
    const queues = (await h.app.inject({ method: 'GET', url: '/api/queues' }))
      .json()
      .filter((q: { task_type: string }) => q.task_type === orphan || q.task_type === served);
    expect(queues).toHaveLength(3);
    expect(queues).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ task_type: orphan, task_version: 1, location: null, active_agents: 0, no_capable_agent: true }),
        expect.objectContaining({ task_type: orphan, task_version: 2, active_agents: 1, no_capable_agent: false }),
        expect.objectContaining({ task_type: served, task_version: 1, active_agents: 1, no_capable_agent: false }),
      ]),
    );
    const metrics = (await h.app.inject({ method: 'GET', url: '/metrics/fleet' })).body;
    expect(metrics).toContain(`afm_tasks_waiting_without_agent{task_type="${orphan}",task_version="1",location=""} 1`);
    expect(metrics).not.toContain(`afm_tasks_waiting_without_agent{task_type="${orphan}",task_version="2"`);
    expect(metrics).not.toContain(`afm_tasks_waiting_without_agent{task_type="${served}"`);
  });
});

describe('DELETE /task/:id', () => {
  it('cancels a waiting task, which is then never handed out', async () => {
    const t = type();
    const task = newTask(t);
    await postTask(task);
    const response = await h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}/` });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ task_id: task.task_id, task_error: 'cancelled' });
    expect(await poll(pollBody([t]))).toEqual([]);
    await persist();
    expect(await view(task.task_id)).toMatchObject({ task_failed: expect.any(String), task_error: 'cancelled' });
  });

  it("cancels a claimed task and refuses the agent's later result; a finished task is 409 and unchanged", async () => {
    const t = type();
    const task = newTask(t);
    await postTask(task);
    await poll(pollBody([t]));
    expect((await h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}` })).statusCode).toBe(200);
    expect((await respond(task.task_id)).statusCode).toBe(400);
    await persist();
    expect((await view(task.task_id)).task_error).toBe('cancelled');
    const done = newTask(t);
    await postTask(done);
    await poll(pollBody([t]));
    expect((await respond(done.task_id)).statusCode).toBe(200);
    await persist();
    const conflict = await h.app.inject({ method: 'DELETE', url: `/task/${done.task_id}` });
    expect(conflict.statusCode).toBe(409);
    expect(conflict.json().code).toBe('AFM_ERR_TASK_FINISHED_CONFLICT');
    expect((await view(done.task_id)).task_result).toBeDefined();
    expect((await h.app.inject({ method: 'DELETE', url: `/task/${randomUUID()}` })).statusCode).toBe(404);
  });

  it("does not take an agent's task_error \"cancelled\" for a repeat: the cancel was AFM's, not the agent's", async () => {
    const t = type();
    const task = newTask(t);
    await postTask(task);
    await poll(pollBody([t]));
    expect((await h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}` })).statusCode).toBe(200);
    const mimic = await h.app.inject({
      method: 'POST',
      url: '/tasks/response',
      ...json({ protocol: 1, task_id: task.task_id, task_error: 'cancelled' }),
    });
    expect(mimic.statusCode).toBe(400);
  });

  it('answers a repeated cancel as the first one, before and after Postgres has it', async () => {
    const t = type();
    const task = newTask(t);
    await postTask(task);
    const first = await h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}` });
    expect(first.statusCode).toBe(200);
    const again = await h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}` });
    expect(again.statusCode).toBe(200);
    expect(again.json()).toEqual(first.json());
    await persist();
    const later = await h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}` });
    expect(later.statusCode).toBe(200);
    expect(later.json()).toEqual(first.json());
  });

  it('lets exactly one of cancel and claim decide, and of cancel and result', async () => {
    const t = type();
    const tasks = Array.from({ length: 30 }, () => newTask(t));
    for (const task of tasks) await postTask(task);
    const [claims, cancels] = await Promise.all([
      poll(pollBody([t], { max_tasks: 30 })),
      Promise.all(tasks.map((task) => h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}` }))),
    ]);
    expect(cancels.every((response) => response.statusCode === 200)).toBe(true); // waiting or claimed: both cancellable
    const results = await Promise.all(claims.map((id) => respond(id)));
    expect(results.every((response) => response.statusCode === 400)).toBe(true);

    const raced = newTask(t);
    await postTask(raced);
    await poll(pollBody([t]));
    const [cancel, result] = await Promise.all([h.app.inject({ method: 'DELETE', url: `/task/${raced.task_id}` }), respond(raced.task_id)]);
    // either the cancel came first (the result is refused) or the result did (the cancel finds it finished)
    expect([
      [200, 400],
      [409, 200],
    ]).toContainEqual([cancel.statusCode, result.statusCode]);
  });
});

/** Waits until `count` long polls wait for a task of this type (an observable moment, not a sleep). */
const pollsWaiting = (t: string, count: number) =>
  waitFor(async () => (await h.deps.dispatch.countWaitingPolls(taskQueueName(t, 1))) >= count, { what: `${count} polls waiting for ${t}` });

describe('long polls', () => {
  it('hold an empty poll until a task is posted, on another replica, and hand it over at once', async () => {
    const t = type();
    const started = Date.now();
    const waiting = poll(pollBody([t]), { wait: 10 });
    await pollsWaiting(t, 1);
    const task = newTask(t);
    await postTask(task, other.app);
    expect(await waiting).toEqual([task.task_id]);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('wake one waiting poll per task, not all of them', async () => {
    const t = type();
    const polls = Array.from({ length: 5 }, (_, n) => poll(pollBody([t]), { wait: 2, app: n % 2 ? h.app : other.app }));
    await pollsWaiting(t, 5);
    const task = newTask(t);
    await postTask(task);
    const started = Date.now();
    const first = await Promise.race(polls.map((p, index) => p.then((ids) => ({ ids, index }))));
    expect(first.ids).toEqual([task.task_id]);
    expect(Date.now() - started).toBeLessThan(1_500);
    const rest = await Promise.all(polls.filter((_, index) => index !== first.index));
    expect(rest.flat()).toEqual([]);
  });

  it('answer empty after the wait, and refuse a wait over 30 s', async () => {
    const started = Date.now();
    expect(await poll(pollBody([type()]), { wait: 0.5 })).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    const response = await h.app.inject({ method: 'POST', url: '/tasks?wait=31', ...json(pollBody([type()])) });
    expect(response.statusCode).toBe(400);
    expect(response.json().message).toContain('querystring.wait');
  });

  it('GET /task?wait answers as soon as the task finishes', async () => {
    const t = type();
    const task = newTask(t);
    await postTask(task);
    await poll(pollBody([t]));
    const reading = h.app.inject({ method: 'GET', url: `/task/${task.task_id}?wait=10` });
    await waitFor(async () => (await h.deps.dispatch.watchedUntil(task.task_id)) !== null, { what: 'the read to watch the task' });
    await respond(task.task_id);
    await persist();
    const response = await reading;
    expect(response.json()).toMatchObject({ task_completed: expect.any(String), task_result: { ok: true } });
  });

  it('give a task back when the poll that claimed it went away before the answer', async () => {
    const t = type();
    const controller = new AbortController();
    const real = h.deps.notifications;
    // The agent hangs up at the very moment its wait is woken: the claim that follows must not be lost.
    const notifications = {
      waitForTask: (queues: string[], ms: number, signal: AbortSignal) => {
        const wait = real.waitForTask(queues, ms, signal);
        return { ready: wait.ready, ended: wait.ended.then((end) => (controller.abort(), end)) };
      },
    } as unknown as typeof real;
    const agent = pollBody([t]);
    const waiting = pollTasks({ ...h.deps, notifications }, agent as never, { wait: 10, signal: controller.signal });
    await pollsWaiting(t, 1);
    const task = newTask(t);
    await postTask(task);
    expect((await waiting).tasks).toEqual([]);
    expect(await poll(pollBody([t]))).toEqual([task.task_id]);
    expect(await view(task.task_id)).not.toHaveProperty('task_failed');
  });

  it('a settle refusing a cancelled task is the same compare-and-set', async () => {
    const t = type();
    const task = newTask(t);
    await postTask(task);
    await poll(pollBody([t]));
    await h.app.inject({ method: 'DELETE', url: `/task/${task.task_id}` });
    expect(await h.deps.dispatch.settle(task.task_id, { state: 'completed', result: {} }, Date.now())).toMatchObject({
      accepted: false,
      state: 'answered',
      first: { state: 'failed', error: 'cancelled' },
    });
  });
});

describe('failure causes', () => {
  const detail = async (id: string) =>
    (await h.app.inject({ method: 'GET', url: `/api/tasks/${id}` })).json() as { failure: string | null };
  const causes = async (ids: string[]) => Promise.all(ids.map(async (id) => (await detail(id)).failure));

  it('stores why each failed task failed, and lists failed tasks by it', async () => {
    const t = type();
    const [erred, expired, timedOut, silent, dropped, cancelled, drained, done] = [
      newTask(t),
      newTask(t, { task_ttl: 1 }),
      newTask(t, { task_timeout: 1 }),
      newTask(t),
      newTask(t),
      newTask(t),
      newTask(t),
      newTask(t),
    ];
    for (const task of [erred, timedOut, silent, dropped, done]) await postTask(task);
    const [erring, timing, going, droppedAgent] = [pollBody([t]), pollBody([t]), pollBody([t]), pollBody([t])];
    expect(await poll({ ...erring, max_tasks: 2 })).toEqual([erred.task_id, timedOut.task_id]);
    expect(await poll({ ...going, max_tasks: 1 })).toEqual([silent.task_id]);
    expect(await poll({ ...droppedAgent, max_tasks: 1 })).toEqual([dropped.task_id]);
    expect(await poll({ ...timing, max_tasks: 1 })).toEqual([done.task_id]);
    // An agent's own error that reads like AFM's words is still the agent's.
    expect((await respond(erred.task_id, { task_error: 'cancelled' })).statusCode).toBe(200);
    expect((await respond(done.task_id)).statusCode).toBe(200);
    for (const task of [expired, cancelled, drained]) await postTask(task);
    expect((await h.app.inject({ method: 'DELETE', url: `/task/${cancelled.task_id}` })).statusCode).toBe(200);
    await dropAgent(worker, droppedAgent.agent_id);
    await deadlines(worker, Date.now() + 1_500); // expired and timedOut
    await cleanup(worker, Date.now() + 61_000); // silent
    await worker.dispatch.drain(taskQueueName(t, 1), 'retired');
    await persist();
    expect(await causes([erred, expired, timedOut, silent, dropped, cancelled, drained, done].map((task) => task.task_id))).toEqual([
      'agent_error',
      'ttl_expired',
      'timed_out',
      'agent_silent',
      'agent_silent',
      'cancelled',
      'drained',
      null,
    ]);
    const listed = async (failure: string) =>
      ((await h.app.inject({ method: 'GET', url: `/api/tasks?type=${t}&failure=${failure}` })).json().items as { task_id: string }[]).map(
        (task) => task.task_id,
      );
    expect(await listed('drained')).toEqual([drained.task_id]);
    expect((await listed('agent_silent')).sort()).toEqual([silent.task_id, dropped.task_id].sort());
    const refused = await h.app.inject({ method: 'GET', url: `/api/tasks?failure=lost` });
    expect([refused.statusCode, refused.json().message]).toEqual([400, expect.stringContaining('failure')]);
    // Cancelling the agent's "cancelled" is refused: it failed, it was not cancelled.
    expect((await h.app.inject({ method: 'DELETE', url: `/task/${erred.task_id}` })).statusCode).toBe(409);
  });

  it('keeps the cause of a failure whose results job was lost, as the reconcile job queues it again', async () => {
    const t = type();
    const task = newTask(t);
    await postTask(task);
    await worker.dispatch.drain(taskQueueName(t, 1), 'retired');
    for (const job of await worker.dispatch.results.getJobs(['waiting', 'prioritized']))
      if (job.data.task_id === task.task_id) await job.remove();
    await requeueUnsavedResults(worker, Date.now() + 60_000);
    await persist();
    expect(await detail(task.task_id)).toMatchObject({ task_error: 'retired', failure: 'drained' });
  });
});
