// docs/protocol.md, "Agents going silent" agent lifecycle, at the service level with a controlled clock: silent agents' tasks fail,
// results always win over later cleanup, polling agents keep their tasks, forgotten agents are dropped.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '@afm/shared/db/connect';
import { findTask, insertTask } from '@afm/shared/db/tasks';
import { taskQueueName, type TaskJob } from '@afm/shared/queues';
import { cleanup } from '../src/services/cleanup.service.js';
import { recordResult } from '../src/services/results.service.js';
import { syncAgents } from '../src/services/sync.service.js';
import { startWorkerHarness, type WorkerHarness } from './harness.js';

const ACTIVE = 3; // s
const DROP = 6; // s
let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorkerHarness('cleanup', { AGENT_ACTIVE_THRESHOLD: String(ACTIVE), AGENT_DROP_THRESHOLD: String(DROP) });
});
afterAll(() => h.close());

/** Posts `count` tasks of a fresh type, and has a new agent poll for them at time `at`. */
async function agentWithTasks(count: number, at: number, name = 'probe') {
  const type = `cl-${randomUUID().slice(0, 8)}`;
  const tasks: TaskJob[] = [];
  for (let n = 0; n < count; n++) {
    const task = { task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: { n } };
    await insertTask(h.deps.db, task, new Date(at - 1000));
    await h.deps.dispatch.enqueue(task, at - 1000 + n);
    tasks.push(task);
  }
  const agentId = randomUUID();
  const claimed = await poll(agentId, type, count, at, name);
  expect(claimed).toHaveLength(count);
  return { agentId, type, tasks };
}

async function poll(agentId: string, type: string, maxTasks: number, at: number, name = 'probe') {
  return h.deps.dispatch.claimTasks({
    agentId,
    name,
    location: '',
    capabilities: JSON.stringify({ [type]: { version: 1 } }),
    agentTime: 'x',
    maxTasks,
    queues: [taskQueueName(type, 1)],
    now: at,
  });
}

/** What the worker's results consumer does with the jobs cleanup queued. */
async function drainResults() {
  for (const job of await h.deps.dispatch.results.getJobs(['waiting', 'prioritized'])) {
    await recordResult(h.deps, job.data);
    await job.remove();
  }
}

describe('cleanup (docs/protocol.md, "Agents going silent")', () => {
  it('fails the tasks of an agent unseen for AGENT_ACTIVE_THRESHOLD, saying since when', async () => {
    const t0 = Date.now();
    const { agentId, tasks } = await agentWithTasks(2, t0, 'lab-agent');
    expect((await cleanup(h.deps, t0 + (ACTIVE - 1) * 1000)).silentAgents).toBe(0);
    const report = await cleanup(h.deps, t0 + ACTIVE * 1000 + 1);
    expect(report.silentAgents).toBeGreaterThanOrEqual(2);
    await drainResults();
    for (const task of tasks) {
      const row = await findTask(h.deps.db, task.task_id);
      expect(row).toMatchObject({ state: 'failed', agent_id: agentId, result: null });
      expect(row!.error).toContain('went silent');
      expect(row!.error).toContain('"lab-agent"');
      expect(row!.error).toContain(new Date(t0).toISOString().replace('Z', '+00:00'));
      expect(row!.finished_at!.getTime()).toBe(t0 + ACTIVE * 1000 + 1);
    }
    // A late result is refused and changes nothing.
    const late = await h.deps.dispatch.settle(tasks[0]!.task_id, { state: 'completed', result: { late: true } }, Date.now());
    expect(late).toEqual({ accepted: false, state: 'done' });
  });

  it('never touches a task whose result already arrived', async () => {
    const t0 = Date.now();
    const { tasks } = await agentWithTasks(2, t0);
    const reply = await h.deps.dispatch.settle(tasks[0]!.task_id, { state: 'completed', result: { ok: 1 } }, t0 + 10);
    expect(reply.accepted).toBe(true);
    await cleanup(h.deps, t0 + 10 * ACTIVE * 1000);
    await drainResults();
    expect(await findTask(h.deps.db, tasks[0]!.task_id)).toMatchObject({ state: 'completed', result: { ok: 1 }, error: null });
    expect(await findTask(h.deps.db, tasks[1]!.task_id)).toMatchObject({ state: 'failed' });
  });

  it('lets an agent that keeps polling (with max_tasks 0) keep its tasks however long they run', async () => {
    const t0 = Date.now();
    const { agentId, type, tasks } = await agentWithTasks(1, t0);
    for (let minute = 1; minute <= 60; minute++) {
      const at = t0 + minute * 60_000;
      await poll(agentId, type, 0, at);
      await cleanup(h.deps, at + (ACTIVE - 1) * 1000);
    }
    await drainResults();
    expect(await findTask(h.deps.db, tasks[0]!.task_id)).toMatchObject({ state: 'waiting', finished_at: null });
    expect(await h.deps.dispatch.redis.hget(h.deps.dispatch.keys.task(tasks[0]!.task_id), 'state')).toBe('claimed');
    expect((await h.deps.dispatch.settle(tasks[0]!.task_id, { state: 'completed', result: {} }, Date.now())).accepted).toBe(true);
  });

  it('spares an agent that polled between the look-up and the failing', async () => {
    const t0 = Date.now();
    const { agentId, type, tasks } = await agentWithTasks(1, t0);
    const lastSeen = Number(await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.agentsSeen, agentId));
    await poll(agentId, type, 0, t0 + 5_000); // the agent is back
    const failed = await h.deps.dispatch.failSilentAgents([{ agentId, lastSeen, error: 'silent' }], t0 + 6_000);
    expect(failed).toEqual([]);
    expect(await h.deps.dispatch.redis.hget(h.deps.dispatch.keys.task(tasks[0]!.task_id), 'state')).toBe('claimed');
  });

  it('exactly one of "result accepted" and "failed by cleanup" wins a race', async () => {
    const t0 = Date.now() - 60_000;
    const { tasks } = await agentWithTasks(200, t0);
    const results = tasks.map((task) =>
      h.deps.dispatch.settle(task.task_id, { state: 'completed', result: { n: task.task_data.n } }, Date.now()),
    );
    const [, ...replies] = await Promise.all([cleanup(h.deps, Date.now()), ...results]);
    await drainResults();
    // Results that beat cleanup stand; the others were refused because cleanup failed the task first.
    for (const [index, task] of tasks.entries()) {
      const row = await findTask(h.deps.db, task.task_id);
      if (replies[index]!.accepted) {
        expect(row).toMatchObject({ state: 'completed', result: { n: task.task_data.n } });
      } else {
        expect(replies[index]).toEqual({ accepted: false, state: 'answered' });
        expect(row).toMatchObject({ state: 'failed', result: null });
        expect(row!.error).toContain('went silent');
      }
    }
  });

  it('forgets agents unseen for AGENT_DROP_THRESHOLD with their capabilities; their tasks stay failed', async () => {
    const t0 = Date.now();
    const { agentId, tasks } = await agentWithTasks(1, t0);
    await syncAgents(h.deps);
    expect(await h.deps.db.selectFrom('agent_capabilities').select('agent_id').where('agent_id', '=', agentId).execute()).toHaveLength(1);

    await cleanup(h.deps, t0 + (DROP - 1) * 1000); // silent, not yet forgotten
    expect(await h.deps.db.selectFrom('agents').select('id').where('id', '=', agentId).execute()).toHaveLength(1);
    const report = await cleanup(h.deps, t0 + DROP * 1000 + 1);
    expect(report.forgottenAgents).toBeGreaterThanOrEqual(1);
    await drainResults();
    expect(await h.deps.db.selectFrom('agents').select('id').where('id', '=', agentId).execute()).toEqual([]);
    expect(await h.deps.db.selectFrom('agent_capabilities').select('agent_id').where('agent_id', '=', agentId).execute()).toEqual([]);
    expect(await h.deps.dispatch.redis.exists(h.deps.dispatch.keys.agent(agentId))).toBe(0);
    expect(await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.agentsSeen, agentId)).toBeNull();
    expect(await findTask(h.deps.db, tasks[0]!.task_id)).toMatchObject({ state: 'failed', agent_id: agentId });
  });

  it('never reads the tasks table, so finished history costs nothing', async () => {
    const t0 = Date.now();
    await agentWithTasks(3, t0 - 10 * DROP * 1000);
    const queries: string[] = [];
    const db = createDb(h.env.config.DATABASE_URI, { max: 1, onQuery: (sql) => queries.push(sql) });
    try {
      const report = await cleanup({ ...h.deps, db }, t0);
      expect(report.silentAgents).toBeGreaterThanOrEqual(3);
      expect(queries.length).toBeGreaterThan(0);
      expect(queries.filter((sql) => /\btasks\b/.test(sql))).toEqual([]);
    } finally {
      await db.destroy();
    }
  });

  it('indexes only agents that hold tasks, so agents that went away cost cleanup nothing', async () => {
    const t0 = Date.now();
    const { agentId, tasks } = await agentWithTasks(2, t0);
    const holders = () => h.deps.dispatch.redis.zrange(h.deps.dispatch.keys.holders, 0, -1);
    expect(await holders()).toContain(agentId);
    expect(await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.holders, agentId)).toBe(
      await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.agentsSeen, agentId),
    );
    await h.deps.dispatch.settle(tasks[0]!.task_id, { state: 'completed', result: {} }, t0 + 1);
    expect(await holders()).toContain(agentId);
    await h.deps.dispatch.settle(tasks[1]!.task_id, { state: 'completed', result: {} }, t0 + 2);
    expect(await holders()).not.toContain(agentId);
    // 3,000 agents that went away without tasks are in the last-seen index only.
    const pipeline = h.deps.dispatch.redis.pipeline();
    for (let n = 0; n < 3_000; n++) pipeline.zadd(h.deps.dispatch.keys.agentsSeen, t0 - 3_600_000, randomUUID());
    await pipeline.exec();
    expect(await h.deps.dispatch.redis.zcount(h.deps.dispatch.keys.holders, '-inf', t0)).toBe(0);
    expect((await cleanup(h.deps, t0 + ACTIVE * 1000 + 1)).silentAgents).toBe(0);
  });
});
