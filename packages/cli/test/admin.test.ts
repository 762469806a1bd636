// Issue 4: the administration commands against a live AFM — queues, tasks and agents, as tables and
// as JSON, with exit codes 0 / 1 / 2 and clear messages when storage is unreachable.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import type { ApiServer } from '@afm/api/server';
import { call, newTask, poll } from './support/client.js';
import { runAfm } from './support/run-cli.js';
import { startInProcessWorker, startReplica } from './support/topology.js';

let env: TestEnv;
let api: ApiServer;
let worker: { close(): Promise<void> };
beforeAll(async () => {
  env = await createTestEnv('admin');
  api = await startReplica(env.config, env.logger);
  worker = await startInProcessWorker(env.config, env.logger);
});
afterAll(async () => {
  await api.close();
  await worker.close();
  await env.cleanup();
});

const afm = (...argv: string[]) => runAfm(env.config, argv);
const view = async (id: string) => (await call(api.url, 'GET', `/task/${id}`)).body;

describe('slamon-afm queues', () => {
  it('lists waiting, in progress and oldest age per type and version', async () => {
    const type = `q-${randomUUID().slice(0, 6)}`;
    for (let n = 0; n < 3; n++) await call(api.url, 'POST', '/task', newTask(type));
    await call(api.url, 'POST', '/task', { ...newTask(type), task_version: 2 });
    await poll(api.url, [type], 1);
    const listed = await afm('queues', '--json');
    expect(listed.code).toBe(0);
    const queues = (listed.json() as { task_type: string; task_version: number }[]).filter((q) => q.task_type === type);
    expect(queues).toEqual([
      expect.objectContaining({ task_version: 1, waiting: 2, in_progress: 1, paused: false, oldest_waiting_age: expect.any(Number) }),
      expect.objectContaining({ task_version: 2, waiting: 1, in_progress: 0 }),
    ]);
    const table = await afm('queues');
    expect(table.out).toMatch(/^TYPE\s+VERSION\s+LOCATION\s+WAITING\s+IN PROGRESS\s+OLDEST\s+PAUSED/m);
    expect(table.out).toMatch(new RegExp(`^${type}\\s+1\\s+-\\s+2\\s+1\\s+\\d+s\\s+no`, 'm'));
  });

  it('pauses and resumes a type: paused tasks wait, posting still works', async () => {
    const type = `p-${randomUUID().slice(0, 6)}`;
    await call(api.url, 'POST', '/task', newTask(type));
    expect((await afm('queues', 'pause', type)).code).toBe(0);
    expect((await call(api.url, 'POST', '/task', newTask(type))).status).toBe(200);
    expect(await poll(api.url, [type], 5)).toEqual([]);
    expect((await afm('queues', '--json')).json().find((q: { task_type: string }) => q.task_type === type)).toMatchObject({
      paused: true,
      waiting: 2,
    });
    expect((await afm('queues', 'resume', type)).code).toBe(0);
    expect(await poll(api.url, [type], 5)).toHaveLength(2);
  });

  it('drains a type: every waiting task fails with the reason, claimed ones are untouched', async () => {
    const type = `d-${randomUUID().slice(0, 6)}`;
    const tasks = [newTask(type), newTask(type), newTask(type)];
    for (const task of tasks) await call(api.url, 'POST', '/task', task);
    const [held] = await poll(api.url, [type], 1);
    const drained = await afm('queues', 'drain', type, '--reason', 'check retired', '--json');
    expect(drained.code).toBe(0);
    expect(drained.json()).toEqual({ queues: [{ task_type: type, task_version: 1, location: null, drained: 2 }] });
    for (const task of tasks.filter((t) => t.task_id !== held!.task_id)) {
      const failed = await waitFor(async () => (await view(task.task_id)).task_failed && view(task.task_id), { what: 'drained task' });
      expect(failed.task_error).toBe('check retired');
    }
    // Told from other failures: tasks list --failure, and the failure in tasks show and list.
    const listed = (await afm('tasks', 'list', '--type', type, '--failure', 'drained', '--json')).json() as {
      items: { task_id: string }[];
    };
    expect(listed.items.map((task) => task.task_id).sort()).toEqual(
      tasks
        .filter((t) => t.task_id !== held!.task_id)
        .map((t) => t.task_id)
        .sort(),
    );
    expect((await afm('tasks', 'show', listed.items[0]!.task_id)).out).toMatch(/^failure\s+drained$/m);
    expect((await afm('tasks', 'list', '--type', type)).out).toMatch(/failed \(drained\)/);
    const badFailure = await afm('tasks', 'list', '--failure', 'lost');
    expect([badFailure.code, badFailure.err]).toEqual([2, expect.stringMatching(/--failure .*agent_error/)]);
    expect((await call(api.url, 'POST', '/tasks/response', { protocol: 1, task_id: held!.task_id, task_data: {} })).status).toBe(200);
  });

  it('says so, with exit code 1, for a type that has no queue', async () => {
    const result = await afm('queues', 'pause', 'no-such-type');
    expect(result.code).toBe(1);
    expect(result.err).toContain('no queue for task type "no-such-type"');
  });
});

describe('slamon-afm tasks', () => {
  it('shows one task and lists by test run, type and state, a page at a time', async () => {
    const type = `t-${randomUUID().slice(0, 6)}`;
    const testId = randomUUID();
    const tasks = Array.from({ length: 5 }, () => ({ ...newTask(type), test_id: testId }));
    for (const task of tasks) await call(api.url, 'POST', '/task', task);
    const [claimed] = await poll(api.url, [type], 1);
    await call(api.url, 'POST', '/tasks/response', { protocol: 1, task_id: claimed!.task_id, task_data: { ms: 5 } });
    await waitFor(async () => (await view(claimed!.task_id)).task_completed, { what: 'the result' });

    const shown = await afm('tasks', 'show', claimed!.task_id, '--json');
    expect(shown.json()).toMatchObject({ task_id: claimed!.task_id, state: 'completed', task_result: { ms: 5 }, test_id: testId });
    // One shape: what GET /api/tasks/<id> returns.
    expect(shown.json()).toEqual((await call(api.url, 'GET', `/api/tasks/${claimed!.task_id}`)).body);
    expect((await afm('tasks', 'show', claimed!.task_id)).out).toMatch(/^state\s+completed$/m);

    const first = (await afm('tasks', 'list', '--test', testId, '--limit', '3', '--json')).json();
    expect(first.items).toHaveLength(3);
    const second = (await afm('tasks', 'list', '--test', testId, '--limit', '3', '--cursor', first.next_cursor, '--json')).json();
    expect(second.items).toHaveLength(2);
    expect(second.next_cursor).toBeNull();
    const all = [...first.items, ...second.items].map((task: { task_id: string }) => task.task_id);
    expect(new Set(all)).toEqual(new Set(tasks.map((task) => task.task_id)));
    expect(all).toEqual([...tasks].reverse().map((task) => task.task_id)); // newest first

    const waiting = (await afm('tasks', 'list', '--type', type, '--state', 'waiting', '--json')).json();
    expect(waiting.items).toHaveLength(4);
    expect((await afm('tasks', 'list', '--state', 'done')).code).toBe(2);
    const newest = first.items[0] as { task_id: string; posted_at: string };
    const ids = (page: { items: { task_id: string }[] }) => page.items.map((task) => task.task_id);
    expect(ids((await afm('tasks', 'list', '--test', testId, '--since', newest.posted_at, '--json')).json())).toEqual([newest.task_id]);
    expect(ids((await afm('tasks', 'list', '--test', testId, '--until', newest.posted_at, '--json')).json())).toHaveLength(4);
    const badTime = await afm('tasks', 'list', '--since', 'yesterday');
    expect(badTime.code).toBe(2);
    expect(badTime.err).toMatch(/--since must be an ISO 8601 time/);
    expect((await afm('tasks', 'list', '--country', 'Finland')).err).toMatch(/--country must be a two-letter country code/);
    expect((await afm('tasks', 'show', 'not-a-uuid')).code).toBe(2);
    const missing = await afm('tasks', 'show', randomUUID());
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no task with task_id');
  });
});

describe('slamon-afm agents', () => {
  it('lists and shows agents with capabilities, location and task counts', async () => {
    const type = `a-${randomUUID().slice(0, 6)}`;
    const agentId = randomUUID();
    await call(api.url, 'POST', '/task', newTask(type));
    await call(api.url, 'POST', '/tasks', {
      protocol: 1,
      agent_id: agentId,
      agent_name: 'helsinki-1',
      agent_time: 't',
      agent_location: { country: 'FI', region: '18' },
      agent_capabilities: { [type]: { version: 1 } },
      max_tasks: 1,
    });
    const agent = await waitFor(
      async () =>
        (await afm('agents', 'list', '--active', '--json')).json().items.find((a: { agent_id: string }) => a.agent_id === agentId),
      { what: 'the agent in Postgres' },
    );
    expect(agent).toMatchObject({
      name: 'helsinki-1',
      location: { country: 'FI', region: '18' },
      active: true,
      capabilities: [{ task_type: type, task_version: 1 }],
    });
    await waitFor(async () => (await afm('agents', 'show', agentId, '--json')).json().tasks.assigned === 1, {
      what: 'the claim in Postgres',
    });
    const shown = (await afm('agents', 'show', agentId, '--json')).json();
    expect(shown.held).toHaveLength(1);
    expect(
      (await afm('agents', 'list', '--no-active', '--json')).json().items.some((a: { agent_id: string }) => a.agent_id === agentId),
    ).toBe(false);
    expect((await afm('agents')).out).toMatch(new RegExp(`^${agentId}\\s+helsinki-1\\s+yes\\s+FI/18`, 'm'));
  });

  it("drops an agent: its tasks fail like a silent agent's and its late result is refused", async () => {
    const type = `x-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    const agentId = randomUUID();
    await call(api.url, 'POST', '/task', task);
    await poll(api.url, [type], 1, agentId);
    const dropped = await afm('agents', 'drop', agentId, '--json');
    expect(dropped.code).toBe(0);
    expect(dropped.json()).toEqual({ agent_id: agentId, failed_tasks: 1 });
    const failed = await waitFor(async () => (await view(task.task_id)).task_failed && view(task.task_id), { what: 'the failure' });
    expect(failed.task_error).toMatch(/^agent dropped by an operator/);
    expect((await call(api.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: {} })).status).toBe(400);
    const gone = await afm('agents', 'show', agentId);
    expect(gone.code).toBe(1);
  });
});

describe('unreachable storage', () => {
  it('exits 1 saying which store cannot be reached', async () => {
    const redis = await afm('queues', '--redis-url', 'redis://127.0.0.1:1');
    expect(redis.code).toBe(1);
    expect(redis.err).toMatch(/cannot reach Redis, single server \(redis:\/\/127\.0\.0\.1:1/);
    const sentinels = await runAfm(env.config, ['queues', '--redis-sentinels', '127.0.0.1:1', '--redis-sentinel-name', 'afm'], {
      REDIS_URL: '',
    });
    expect(sentinels.code).toBe(1);
    expect(sentinels.err).toMatch(/cannot reach Redis, sentinel \(master group afm via 127\.0\.0\.1:1\)/);
    const postgres = await afm('agents', '--database-uri', 'postgres://afm:secret@127.0.0.1:1/afm');
    expect(postgres.code).toBe(1);
    expect(postgres.err).toMatch(/cannot reach Postgres at postgres:\/\/afm:\*\*\*@127\.0\.0\.1:1\/afm/);
    expect(postgres.err).not.toContain('secret');
  });

  it('runs the queue commands on Redis alone: Postgres down, active agents are unknown', async () => {
    const type = `n-${randomUUID().slice(0, 6)}`;
    await call(api.url, 'POST', '/task', newTask(type));
    const down = ['--database-uri', 'postgres://afm:secret@127.0.0.1:1/afm'];
    const listed = await afm('queues', '--json', ...down);
    expect(listed.code, listed.err).toBe(0);
    expect(listed.json().find((q: { task_type: string }) => q.task_type === type)).toMatchObject({
      waiting: 1,
      active_agents: null,
      no_capable_agent: null,
    });
    const table = await afm('queues', ...down);
    expect(table.code).toBe(0);
    expect(table.err).toContain('Postgres cannot be reached: active agents unknown');
    expect((await afm('queues', 'pause', type, ...down)).code).toBe(0);
    expect((await afm('queues', '--json')).json().find((q: { task_type: string }) => q.task_type === type).paused).toBe(true);
    expect((await afm('queues', 'resume', type, ...down)).code).toBe(0);
    const drained = await afm('queues', 'drain', type, '--reason', 'gone', '--json', ...down);
    expect(drained.code, drained.err).toBe(0);
    expect(drained.json().queues.map((q: { drained: number }) => q.drained)).toEqual([1]);
  });

  it('warns of tasks that wait with no active agent able to run them', async () => {
    const type = `w-${randomUUID().slice(0, 6)}`;
    await call(api.url, 'POST', '/task', newTask(type));
    const listed = await afm('queues');
    expect(listed.code).toBe(0);
    expect(listed.err).toContain(`warning: 1 task(s) of ${type} v1 wait with no active agent able to run them`);
    expect(listed.out).toMatch(new RegExp(`^${type}\\s+1\\s+-\\s+1\\s+0\\s+\\d+s\\s+no\\s+1\\s+0\\s+0\\s+0$`, 'm'));
  });
});

describe('admin token (issue 8)', () => {
  const admin = { ADMIN_TOKENS: 'cli-admin-token-0123456789' };

  it('commands that change the fleet need an admin token once ADMIN_TOKENS is set; reports do not', async () => {
    const type = `t-${randomUUID().slice(0, 6)}`;
    await call(api.url, 'POST', '/task', newTask(type));
    const missing = await runAfm(env.config, ['queues', 'pause', type], admin);
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/needs an admin token/);
    const wrong = await runAfm(env.config, ['queues', 'drain', type, '--reason', 'r', '--token', 'not-the-token-at-all'], admin);
    expect(wrong.code).toBe(2);
    expect(wrong.err).toMatch(/not an admin token/);
    expect(
      (
        await runAfm(env.config, ['agents', 'drop', randomUUID()], {
          ...admin,
          AGENT_TOKENS: 'agent-token-0123456789abc',
          AFM_TOKEN: 'agent-token-0123456789abc',
        })
      ).code,
    ).toBe(2);
    expect((await runAfm(env.config, ['queues', '--json'], admin)).code).toBe(0);

    expect((await runAfm(env.config, ['queues', 'pause', type, '--token', admin.ADMIN_TOKENS], admin)).code).toBe(0);
    expect((await runAfm(env.config, ['queues', 'resume', type], { ...admin, AFM_TOKEN: admin.ADMIN_TOKENS })).code).toBe(0);
    // Without admin tokens (agents' only, say) the CLI's boundary is the storage credentials alone.
    expect((await runAfm(env.config, ['queues', 'pause', type], { AGENT_TOKENS: 'agent-token-0123456789abc' })).code).toBe(0);
    expect((await runAfm(env.config, ['queues', 'resume', type], { AGENT_TOKENS: 'agent-token-0123456789abc' })).code).toBe(0);
  });
});

describe('--url: the same commands through the admin API (issue 15)', () => {
  const TOKEN = 'cli-url-admin-token-0123456789';
  const bpms = { authorization: 'Bearer cli-url-bpms-token-0123456789' };
  const agent = { authorization: 'Bearer cli-url-agent-token-0123456789' };
  let own: TestEnv;
  let replica: ApiServer;
  let ownWorker: { close(): Promise<void> };
  beforeAll(async () => {
    own = await createTestEnv('admin-url', {
      ADMIN_TOKENS: TOKEN,
      BPMS_TOKENS: 'cli-url-bpms-token-0123456789',
      AGENT_TOKENS: 'cli-url-agent-token-0123456789',
    });
    replica = await startReplica(own.config, own.logger);
    ownWorker = await startInProcessWorker(own.config, own.logger);
  });
  afterAll(async () => {
    await replica.close();
    await ownWorker.close();
    await own.cleanup();
  });

  // No storage credentials at all: every store the command could reach directly is a closed port.
  const remote = (argv: string[], vars: Record<string, string> = {}) =>
    runAfm(own.config, argv, {
      DATABASE_URI: 'postgres://nobody:secret@127.0.0.1:9/none',
      REDIS_URL: 'redis://127.0.0.1:9',
      AFM_URL: replica.url,
      AFM_TOKEN: TOKEN,
      ...vars,
    });
  const admin = { authorization: `Bearer ${TOKEN}` };
  const viewOwn = async (id: string) => (await call(replica.url, 'GET', `/api/tasks/${id}`, undefined, admin)).body;

  it('queues, pause, resume and drain work with an admin token alone', async () => {
    const type = `u-${randomUUID().slice(0, 6)}`;
    const tasks = [newTask(type), newTask(type)];
    for (const task of tasks) await call(replica.url, 'POST', '/task', task, bpms);
    const paused = await remote(['queues', 'pause', type, '--json']);
    expect(paused.code, paused.err).toBe(0);
    expect(paused.json()).toEqual({ paused: true, queues: [{ task_type: type, task_version: 1, location: null }] });
    const listed = (await remote(['queues', '--json'])).json().find((q: { task_type: string }) => q.task_type === type);
    expect(listed).toMatchObject({ paused: true, waiting: 2 });
    expect((await remote(['queues', 'resume', type])).out).toBe(`resumed ${type} v1\n`);
    const drained = await remote(['queues', 'drain', type, '--reason', 'moved', '--json']);
    expect(drained.json().queues[0].drained).toBe(2);
    await waitFor(async () => (await viewOwn(tasks[0]!.task_id)).task_error === 'moved', { what: 'the drained task in Postgres' });
  });

  it('tasks show, cancel and retry print what the API returns', async () => {
    const task = newTask(`u-${randomUUID().slice(0, 6)}`);
    await call(replica.url, 'POST', '/task', task, bpms);
    // Times go to the API as ISO 8601.
    const since = await remote(['tasks', 'list', '--since', new Date(Date.now() - 60_000).toISOString(), '--state', 'waiting', '--json']);
    expect(since.code, since.err).toBe(0);
    expect(since.json().items.map((t: { task_id: string }) => t.task_id)).toContain(task.task_id);
    const shown = await remote(['tasks', 'show', task.task_id, '--json']);
    expect(shown.json()).toEqual(await viewOwn(task.task_id));
    const cancelled = await remote(['tasks', 'cancel', task.task_id, '--json']);
    expect(cancelled.json()).toMatchObject({ task_id: task.task_id, task_error: 'cancelled' });
    await waitFor(async () => (await viewOwn(task.task_id)).finished_at, { what: 'the cancellation in Postgres' });
    const again = randomUUID();
    const retried = await remote(['tasks', 'retry', task.task_id, '--as', again, '--json']);
    expect(retried.code, retried.err).toBe(0);
    expect(retried.json()).toMatchObject({ task_id: again, retry_of: task.task_id, test_id: task.test_id, state: 'waiting' });
    expect((await remote(['tasks', 'show', again])).out).toMatch(/^state\s+waiting$/m);
    // Not finished: a retry is refused, with the API's message.
    const refused = await remote(['tasks', 'retry', again]);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/409 from AFM: .*only a finished task can be retried/);
  });

  it('agents list and drop', async () => {
    const type = `u-${randomUUID().slice(0, 6)}`;
    const agentId = randomUUID();
    await call(replica.url, 'POST', '/task', newTask(type), bpms);
    await poll(replica.url, [type], 1, agentId, agent);
    await waitFor(async () => (await remote(['agents', '--json'])).json().items.some((a: { agent_id: string }) => a.agent_id === agentId), {
      what: 'the agent in Postgres',
    });
    expect((await remote(['agents', 'drop', agentId, '--json'])).json()).toEqual({ agent_id: agentId, failed_tasks: 1 });
  });

  it('a missing or wrong token is a usage error (2); an unreachable AFM a runtime one (1)', async () => {
    const missing = await remote(['queues'], { AFM_TOKEN: '' });
    expect(missing.code).toBe(2);
    expect(missing.err).toMatch(/401 from AFM: this route needs a admin token/);
    expect((await remote(['queues', '--token', 'not-the-token-0123456789'])).code).toBe(2);
    const down = await remote(['queues', '--url', 'http://127.0.0.1:9']);
    expect(down.code).toBe(1);
    expect(down.err).toMatch(/cannot reach AFM at http:\/\/127\.0\.0\.1:9/);
    expect((await remote(['queues', '--url', 'not a url'])).code).toBe(2);
  });
});
