// Issue 11: every maintenance job is independent and heals itself. A job that keeps failing does not
// starve the others, is recorded in Redis (for /readyz and metrics) and logged once per cause; when
// Redis loses its data, the worker schedules its jobs again without a restart and they rebuild Redis.
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { Queue } from 'bullmq';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findTask, insertTask } from '@afm/shared/db/tasks';
import { readJobHealth } from '@afm/shared/dispatch/job-health';
import { MAINTENANCE_JOBS, MAINTENANCE_QUEUE, taskQueueName, type TaskJob } from '@afm/shared/queues';
import { deleteDeployment } from '@afm/shared/dispatch/dispatch';
import { waitFor } from '@afm/shared/testing/wait';
import { startWorker, type RunningWorker } from '../src/worker.js';
import { MAINTENANCE_JOB_TABLE } from '../src/jobs/table.js';
import { startWorkerHarness, type WorkerHarness } from './harness.js';

let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorkerHarness('worker-jobs', { AGENT_ACTIVE_THRESHOLD: '2', CLEANUP_INTERVAL: '0.5' });
});
afterAll(() => h.close());

/** Worker deps logging into memory. */
function withLog() {
  const lines: Record<string, unknown>[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk)) as Record<string, unknown>), done()) }),
  );
  return { deps: { ...h.deps, logger }, lines };
}

const task = (type: string): TaskJob => ({ task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: {} });

async function claim(type: string, agentId = randomUUID()) {
  const claimed = await h.deps.dispatch.claimTasks({
    agentId,
    name: 'jobs',
    location: '',
    capabilities: JSON.stringify({ [type]: { version: 1 } }),
    agentTime: 't',
    maxTasks: 10,
    queues: [taskQueueName(type, 1)],
    now: Date.now(),
  });
  return claimed.map((job) => (JSON.parse(job.data) as TaskJob).task_id);
}

describe('maintenance jobs', () => {
  let worker: RunningWorker | undefined;
  afterAll(() => worker?.close());

  it('keep running side by side while one fails every run; the failure is recorded and logged once per cause', async () => {
    const { deps, lines } = withLog();
    // An agent whose hash Redis holds corrupted: every sync of agents fails on it.
    const poisoned = randomUUID();
    await h.deps.dispatch.redis.hset(h.deps.dispatch.keys.agent(poisoned), { name: 'p', capabilities: 'not json', last_seen: Date.now() });
    await h.deps.dispatch.redis.sadd(h.deps.dispatch.keys.agentsDirty, poisoned);
    // Work for the other jobs: a task Redis never got (reconcile), and one whose task_ttl ran out (deadlines).
    const type = `j-${randomUUID().slice(0, 6)}`;
    const orphan = task(type);
    await insertTask(h.deps.db, orphan, new Date(Date.now() - 120_000));
    const expiring = { ...task(`e-${randomUUID().slice(0, 6)}`), task_ttl: 0.2 };
    await insertTask(h.deps.db, expiring, new Date());
    await h.deps.dispatch.enqueue(expiring, Date.now());

    worker = await startWorker(deps, { syncEveryMs: 200 });
    await waitFor(
      async () => (await readJobHealth(h.deps.dispatch.redis, h.deps.dispatch.keys)).find((job) => job.job === 'sync' && job.failures >= 5),
      {
        timeoutMs: 20_000,
        what: 'five failed runs of sync',
      },
    );
    expect(await claim(type), 'reconcile queued the orphan while sync failed').toEqual([orphan.task_id]);
    await waitFor(async () => (await findTask(h.deps.db, expiring.task_id))?.state === 'failed', {
      timeoutMs: 10_000,
      what: 'the expired task to fail',
    });

    const health = await readJobHealth(h.deps.dispatch.redis, h.deps.dispatch.keys);
    expect(health.find((job) => job.job === 'sync')).toMatchObject({
      error: expect.stringMatching(/^agents: .*JSON/),
      failingSince: expect.any(Number),
    });
    for (const name of ['reconcile', 'deadlines']) expect(health.find((job) => job.job === name)?.failures, name).toBe(0);
    const failures = lines.filter((line) => line.job === 'sync' && line.level === 50);
    expect(failures, 'logged once, not once per run').toHaveLength(1);
    expect(String((failures[0]!.err as { message: string }).message)).toMatch(/agents: /);

    await h.deps.dispatch.redis.del(h.deps.dispatch.keys.agent(poisoned));
    await waitFor(
      async () => (await readJobHealth(h.deps.dispatch.redis, h.deps.dispatch.keys)).find((job) => job.job === 'sync')?.failures === 0,
      {
        timeoutMs: 10_000,
        what: 'sync to recover',
      },
    );
    await waitFor(
      () => lines.some((line) => line.job === 'sync' && line.msg === 'maintenance job recovered' && Number(line.failedRuns) >= 5),
      {
        what: 'the recovery logged with the number of failed runs',
      },
    );
    await worker.close();
    worker = undefined;
  });

  it('schedules its jobs again after Redis lost its data, and they rebuild what Redis lost', async () => {
    const { deps, lines } = withLog();
    const type = `l-${randomUUID().slice(0, 6)}`;
    const waiting = task(type);
    const held = task(type);
    await insertTask(h.deps.db, waiting, new Date(Date.now() - 2_000));
    await insertTask(h.deps.db, held, new Date(Date.now() - 1_000));
    worker = await startWorker(deps, { syncEveryMs: 200, reconcileGraceMs: 0 });
    await waitFor(async () => (await h.deps.dispatch.waitingJobs(type, 1)) === 2, { what: 'both tasks queued by the reconciler' });
    const agentId = randomUUID();
    expect(await claim(type, agentId)).toEqual([waiting.task_id, held.task_id]);
    await waitFor(async () => (await findTask(h.deps.db, held.task_id))?.state === 'claimed', { what: 'the claims in Postgres' });
    // The agent answers one task; the other it holds when Redis loses everything.
    await h.deps.dispatch.settle(waiting.task_id, { state: 'completed', result: {} }, Date.now());
    await waitFor(async () => (await findTask(h.deps.db, waiting.task_id))?.state === 'completed', { what: 'the result in Postgres' });

    const flushedAt = Date.now();
    await deleteDeployment(h.deps.dispatch.redis, h.env.config.QUEUE_PREFIX);

    const queue = new Queue(MAINTENANCE_QUEUE, {
      connection: h.deps.dispatch.redis,
      prefix: h.env.config.QUEUE_PREFIX,
      skipVersionCheck: true,
    });
    try {
      const scheduled = MAINTENANCE_JOBS.filter((name) => MAINTENANCE_JOB_TABLE[name].everyMs(h.deps, {}) !== null);
      await waitFor(async () => (await queue.getJobSchedulers()).length === scheduled.length, {
        timeoutMs: 10_000,
        what: 'every job scheduler back',
      });
    } finally {
      await queue.close();
    }
    const back = Date.now() - flushedAt;
    expect(lines.some((line) => line.msg === 'job schedulers were missing from Redis (its data was lost); scheduled again')).toBe(true);
    // The claim is rebuilt from Postgres; the agent never polls again, so cleanup fails the task as silent.
    await waitFor(async () => (await h.deps.dispatch.redis.hget(h.deps.dispatch.keys.task(held.task_id), 'agent')) === agentId, {
      what: 'the claim restored',
    });
    await waitFor(async () => (await findTask(h.deps.db, held.task_id))?.state === 'failed', {
      timeoutMs: 15_000,
      what: "cleanup to fail the silent agent's task",
    });
    expect((await findTask(h.deps.db, held.task_id))?.error).toMatch(/agent went silent/);
    expect((await findTask(h.deps.db, waiting.task_id))?.state, 'a finished task stays finished').toBe('completed');
    process.stdout.write(`schedulers back ${back} ms after the flush\n`);
  });

  it('rebuilds its BullMQ consumers when maintenance jobs stop running though Redis answers (the watchdog)', async () => {
    await worker?.close();
    const { deps, lines } = withLog();
    worker = await startWorker(deps, { syncEveryMs: 200, watchdogGraceMs: 300 });
    const health = async () => (await h.deps.dispatch.jobHealth()).filter((job) => ['sync', 'reconcile', 'deadlines'].includes(job.job));
    await waitFor(async () => (await health()).length === 3, { what: 'the jobs to run' });

    // A consumer that stopped fetching (as one wedged on a dead node's connection does), a minute ago.
    await worker.pauseConsumersForTest();
    for (const job of ['sync', 'reconcile', 'deadlines']) await h.deps.dispatch.recordJobRun(job, 200, null, Date.now() - 60_000);
    await waitFor(() => worker!.restarts() === 1, { what: 'the watchdog to restart the consumers' });
    await waitFor(async () => (await health()).every((job) => Date.now() - job.lastRunAt < 2_000), { what: 'the jobs running again' });
    expect(worker.restarts(), 'once: the restarted consumers run').toBe(1);
    expect(lines.filter((line) => /restarting the BullMQ consumers/.test(String(line.msg)))).toHaveLength(1);
  });
});
