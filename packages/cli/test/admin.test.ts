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
    expect(table.out).toMatch(/^TYPE\s+VERSION\s+WAITING\s+IN PROGRESS\s+OLDEST\s+PAUSED/m);
    expect(table.out).toMatch(new RegExp(`^${type}\\s+1\\s+2\\s+1\\s+\\d+s\\s+no`, 'm'));
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
    expect(Object.values(drained.json().drained)).toEqual([2]);
    for (const task of tasks.filter((t) => t.task_id !== held!.task_id)) {
      const failed = await waitFor(async () => (await view(task.task_id)).task_failed && view(task.task_id), { what: 'drained task' });
      expect(failed.task_error).toBe('check retired');
    }
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
    expect(shown.json()).toMatchObject({ id: claimed!.task_id, state: 'completed', result: { ms: 5 }, test_id: testId });
    expect((await afm('tasks', 'show', claimed!.task_id)).out).toMatch(/^state\s+completed$/m);

    const first = (await afm('tasks', 'list', '--test', testId, '--limit', '3', '--json')).json();
    expect(first.items).toHaveLength(3);
    const second = (await afm('tasks', 'list', '--test', testId, '--limit', '3', '--cursor', first.next_cursor, '--json')).json();
    expect(second.items).toHaveLength(2);
    expect(second.next_cursor).toBeNull();
    const all = [...first.items, ...second.items].map((task: { id: string }) => task.id);
    expect(new Set(all)).toEqual(new Set(tasks.map((task) => task.task_id)));
    expect(all).toEqual([...tasks].reverse().map((task) => task.task_id)); // newest first

    const waiting = (await afm('tasks', 'list', '--type', type, '--state', 'waiting', '--json')).json();
    expect(waiting.items).toHaveLength(4);
    expect((await afm('tasks', 'list', '--state', 'done')).code).toBe(2);
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
      async () => (await afm('agents', 'list', '--active', '--json')).json().items.find((a: { id: string }) => a.id === agentId),
      { what: 'the agent in Postgres' },
    );
    expect(agent).toMatchObject({
      name: 'helsinki-1',
      country: 'FI',
      region: '18',
      active: true,
      capabilities: [{ task_type: type, task_version: 1 }],
    });
    await waitFor(async () => (await afm('agents', 'show', agentId, '--json')).json().tasks.assigned === 1, {
      what: 'the claim in Postgres',
    });
    const shown = (await afm('agents', 'show', agentId, '--json')).json();
    expect(shown.held).toHaveLength(1);
    expect((await afm('agents', 'list', '--no-active', '--json')).json().items.some((a: { id: string }) => a.id === agentId)).toBe(false);
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
    expect(dropped.json()).toEqual({ dropped: agentId, failedTasks: 1 });
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
