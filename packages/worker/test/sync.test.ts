// the invariants (README, Development): Postgres catches up with Redis hot state, and Redis is rebuilt from Postgres after a flush.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTask, insertTask, insertTasks, recordClaims, recordOutcomes } from '@afm/shared/db/tasks';
import { taskQueueName, type TaskJob } from '@afm/shared/queues';
import { deleteDeployment } from '@afm/shared/dispatch/dispatch';
import { reconcileTasks, requeueUnsavedResults } from '../src/services/reconcile.service.js';
import { syncAgents, syncClaims } from '../src/services/sync.service.js';
import { startWorkerHarness, type WorkerHarness } from './harness.js';

let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorkerHarness('worker-sync');
});
afterAll(() => h.close());

const HOUR = 3_600_000;

async function post(type: string, postedAt = Date.now()): Promise<TaskJob> {
  const task = { task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: { p: 1 } };
  await insertTask(h.deps.db, task, new Date(postedAt));
  await h.deps.dispatch.enqueue(task, postedAt);
  return task;
}

async function claim(type: string, maxTasks: number, agentId = randomUUID(), location = '') {
  const claimed = await h.deps.dispatch.claimTasks({
    agentId,
    name: `agent ${agentId.slice(0, 4)}`,
    location,
    capabilities: JSON.stringify({ [type]: { version: 1 } }),
    agentTime: 'now',
    maxTasks,
    queues: [taskQueueName(type, 1)],
    now: Date.now(),
  });
  return { agentId, ids: claimed.map((job) => (JSON.parse(job.data) as TaskJob).task_id) };
}

describe('sync', () => {
  it('records claims made in Redis in Postgres', async () => {
    const type = `c-${randomUUID().slice(0, 6)}`;
    const [a, b] = [await post(type), await post(type)];
    const { agentId } = await claim(type, 1);
    expect(await syncClaims(h.deps)).toBeGreaterThanOrEqual(1);
    expect(await findTask(h.deps.db, a.task_id)).toMatchObject({ state: 'claimed', agent_id: agentId, claimed_at: expect.any(Date) });
    expect(await findTask(h.deps.db, b.task_id)).toMatchObject({ state: 'waiting', agent_id: null });
    expect(await h.deps.dispatch.redis.zcard(h.deps.dispatch.keys.claimsDirty)).toBe(0);
  });

  it('keeps a claim dirty that was made again after it was read for syncing (a retried task)', async () => {
    const type = `rc-${randomUUID().slice(0, 6)}`;
    const task = await post(type);
    await claim(type, 1);
    const score = await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.claimsDirty, task.task_id);
    expect(score).not.toBeNull();
    await h.deps.dispatch.redis.zadd(h.deps.dispatch.keys.claimsDirty, Number(score) + 5, task.task_id); // claimed again
    expect(await h.deps.dispatch.forgetSyncedClaims([{ taskId: task.task_id, score: score! }])).toBe(0);
    expect(await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.claimsDirty, task.task_id)).not.toBeNull();
    await syncClaims(h.deps);
    expect(await h.deps.dispatch.redis.zscore(h.deps.dispatch.keys.claimsDirty, task.task_id)).toBeNull();
  });

  it('records agents with location and replaces their capabilities', async () => {
    const type = `a-${randomUUID().slice(0, 6)}`;
    const { agentId } = await claim(type, 0, randomUUID(), JSON.stringify({ country: 'FI', region: '18', latitude: 60.2 }));
    await syncAgents(h.deps);
    const agent = await h.deps.db.selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirstOrThrow();
    expect(agent).toMatchObject({ country: 'FI', region: '18', latitude: 60.2, longitude: null });
    const other = `o-${randomUUID().slice(0, 6)}`;
    await claim(other, 0, agentId);
    await syncAgents(h.deps);
    const capabilities = await h.deps.db.selectFrom('agent_capabilities').selectAll().where('agent_id', '=', agentId).execute();
    expect(capabilities).toEqual([{ agent_id: agentId, task_type: other, task_version: 1 }]);
    const updated = await h.deps.db.selectFrom('agents').selectAll().where('id', '=', agentId).executeTakeFirstOrThrow();
    expect(updated.country).toBeNull();
    expect(updated.first_seen.getTime()).toBe(agent.first_seen.getTime());
  });

  it('writes 1,000 agents of 22 capabilities in one sync: more rows than a statement may have parameters (issue 11)', async () => {
    const capabilities = JSON.stringify(Object.fromEntries(Array.from({ length: 22 }, (_, i) => [`many-${i}`, { version: 1 }])));
    const ids = Array.from({ length: 1_000 }, () => randomUUID());
    await Promise.all(
      ids.map((agentId) =>
        h.deps.dispatch.claimTasks({
          agentId,
          name: 'fleet',
          location: '',
          capabilities,
          agentTime: 't',
          maxTasks: 0,
          queues: [],
          now: Date.now(),
        }),
      ),
    );
    expect(await syncAgents(h.deps)).toBeGreaterThanOrEqual(1_000);
    const { n } = await h.deps.db
      .selectFrom('agent_capabilities')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('task_type', 'like', 'many-%')
      .executeTakeFirstOrThrow();
    expect(Number(n)).toBe(22_000);
    expect(await h.deps.dispatch.redis.scard(h.deps.dispatch.keys.agentsDirty)).toBe(0);
  });

  it('queues again an accepted outcome whose results job was lost', async () => {
    const type = `u-${randomUUID().slice(0, 6)}`;
    const task = await post(type);
    await claim(type, 1);
    const acceptedAt = Date.now() - 60_000;
    await h.deps.dispatch.answerTask(task.task_id, { state: 'completed', result: { r: 1 } }, acceptedAt);
    expect(await h.deps.dispatch.results.getJob(task.task_id)).toBeUndefined();
    expect(await requeueUnsavedResults(h.deps, Date.now())).toBe(1);
    expect((await h.deps.dispatch.results.getJob(task.task_id))?.data).toMatchObject({
      task_id: task.task_id,
      finished_at: acceptedAt,
      outcome: { state: 'completed', result_json: '{"r":1}' },
    });
  });

  it('queues a task Postgres holds but Redis never got, once it is past the grace period', async () => {
    const type = `r-${randomUUID().slice(0, 6)}`;
    const orphan = { task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: {} };
    const postedAt = Date.now() - 2 * 60_000;
    await insertTask(h.deps.db, orphan, new Date(postedAt));
    await reconcileTasks(h.deps, Date.now() - HOUR); // before the task existed: nothing to do
    expect(await h.deps.dispatch.waitingJobs(type, 1)).toBe(0);
    const report = await reconcileTasks(h.deps, Date.now());
    expect(report.requeuedTasks).toBeGreaterThanOrEqual(1);
    expect((await claim(type, 5)).ids).toEqual([orphan.task_id]);
    // The watermark moved on: a second run does not look at it again.
    expect((await reconcileTasks(h.deps, Date.now())).requeuedTasks).toBe(0);
  });

  it('rebuilds waiting tasks and claims after Redis lost everything', async () => {
    const type = `f-${randomUUID().slice(0, 6)}`;
    const past = Date.now() - 5 * 60_000;
    const waiting = await post(type, past);
    const held = await post(type, past + 1);
    const done = await post(type, past + 2);
    await h.deps.db
      .updateTable('tasks')
      .set({ finished_at: new Date(), state: 'completed', result: '{}' })
      .where('id', '=', done.task_id)
      .execute();
    const { agentId } = await claim(type, 1); // takes `waiting`, the oldest
    await syncClaims(h.deps);
    await reconcileTasks(h.deps, Date.now()); // a normal run sets the epoch

    await deleteDeployment(h.deps.dispatch.redis, h.env.config.QUEUE_PREFIX); // the flush

    const report = await reconcileTasks(h.deps, Date.now());
    expect(report.restoredClaims).toBeGreaterThanOrEqual(1);
    expect(report.requeuedTasks).toBeGreaterThanOrEqual(1);
    expect(await h.deps.dispatch.redis.hget(h.deps.dispatch.keys.task(waiting.task_id), 'agent')).toBe(agentId);
    expect(
      await h.deps.dispatch.answerTask(waiting.task_id, { state: 'failed', error: 'x', cause: 'agent_error' }, Date.now()),
    ).toMatchObject({
      accepted: true,
    });
    expect((await claim(type, 10)).ids).toEqual([held.task_id]);
  });
});

describe('batched updates of tasks', () => {
  it('never deadlock, whatever order two batches sharing tasks come in (rows are locked in id order)', async () => {
    const tasks = Array.from({ length: 500 }, (_, n) => ({
      task: { task_id: randomUUID(), test_id: randomUUID(), task_type: 'locks', task_version: 1, task_data: { n } },
      postedAt: new Date(),
    }));
    await insertTasks(h.deps.db, tasks);
    const now = Date.now();
    const claims = tasks.map(({ task }) => ({ task_id: task.task_id, agent_id: randomUUID(), claimed_at: now, attempts: 1 }));
    // Opposite orders at once, as the claims sync and a results batch may send them: each statement
    // locking rows in the order it meets them would wait for the other's rows (Postgres: deadlock detected).
    for (let round = 0; round < 5; round++) {
      await Promise.all([recordClaims(h.deps.db, claims), recordClaims(h.deps.db, [...claims].reverse())]);
    }
    const outcomes = claims.map((claim) => ({
      task_id: claim.task_id,
      outcome: { state: 'failed' as const, error: 'done', cause: 'agent_error' as const },
      finished_at: now,
      agent_id: claim.agent_id,
      claimed_at: now,
      attempts: 1,
    }));
    const [written] = await Promise.all([recordOutcomes(h.deps.db, [...outcomes].reverse()), recordClaims(h.deps.db, claims)]);
    expect(written.filter(Boolean)).toHaveLength(500);
  });
});
