// Issue 12: every fact about BullMQ's private Redis layout that src/dispatch/bullmq.ts states, checked
// against the installed BullMQ release. A bump of bullmq that breaks one fails here, by name.
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';
import { Queue } from 'bullmq';
import type { RedisClient } from '../src/redis.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JOB_FIELD, JOB_LOGS_SUFFIX, META_PAUSED, queueKeys } from '../src/dispatch/bullmq.js';
import { Dispatch, deleteDeployment } from '../src/dispatch/dispatch.js';
import { taskQueueName, type TaskJob } from '../src/queues.js';
import { connectRedis, createRedis } from '../src/redis.js';

const installed = (createRequire(import.meta.url)('bullmq/package.json') as { version: string }).version;
const prefix = `test-bullmq-${randomUUID().slice(0, 8)}`;
let redis: RedisClient;
let dispatch: Dispatch;

beforeAll(async () => {
  redis = createRedis(process.env.AFM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0', 'client');
  await connectRedis(redis);
  dispatch = new Dispatch({ commands: redis, queues: redis, prefix, agentActiveThreshold: 300 });
});
afterAll(async () => {
  await dispatch.close();
  await deleteDeployment(redis, prefix);
  await redis.quit();
});

const task = (type: string): TaskJob => ({
  task_id: randomUUID(),
  test_id: randomUUID(),
  task_type: type,
  task_version: 1,
  task_data: { n: 1 },
});

describe(`BullMQ ${installed}: the layout AFM relies on`, () => {
  it("keeps a queue's waiting job ids in a list at <prefix>:<queue>:wait, the oldest at its right end", async () => {
    const type = `w-${randomUUID().slice(0, 6)}`;
    const [first, second] = [task(type), task(type)];
    const queue = new Queue(taskQueueName(type, 1), { connection: redis, prefix, skipVersionCheck: true });
    try {
      await queue.add(type, first, { jobId: first.task_id, timestamp: 1_000 });
      await queue.add(type, second, { jobId: second.task_id, timestamp: 2_000 });
      const keys = queueKeys(prefix, taskQueueName(type, 1));
      expect(await redis.lrange(keys.wait, 0, -1)).toEqual([second.task_id, first.task_id]);
      expect(await queue.getWaitingCount()).toBe(2);
    } finally {
      await queue.close();
    }
  });

  it('stores a job in a hash at <prefix>:<queue>:<job id> with its data as JSON and the timestamp it was given', async () => {
    const type = `h-${randomUUID().slice(0, 6)}`;
    const posted = task(type);
    const queue = new Queue(taskQueueName(type, 1), { connection: redis, prefix, skipVersionCheck: true });
    try {
      await queue.add(type, posted, { jobId: posted.task_id, timestamp: 1_234 });
      const hash = await redis.hgetall(queueKeys(prefix, taskQueueName(type, 1)).jobPrefix + posted.task_id);
      expect(JSON.parse(hash[JOB_FIELD.data]!)).toEqual(posted);
      expect(hash[JOB_FIELD.timestamp]).toBe('1234');
      expect(hash[JOB_FIELD.name]).toBe(type);
      for (const field of Object.values(JOB_FIELD)) expect(hash, field).toHaveProperty(field);
    } finally {
      await queue.close();
    }
  });

  it(`marks a paused queue with a field "${META_PAUSED}" in <prefix>:<queue>:meta, and a job's log at <job key>:${JOB_LOGS_SUFFIX}`, async () => {
    const type = `p-${randomUUID().slice(0, 6)}`;
    const queue = new Queue(taskQueueName(type, 1), { connection: redis, prefix, skipVersionCheck: true });
    try {
      const keys = queueKeys(prefix, taskQueueName(type, 1));
      await queue.pause();
      expect(await redis.hexists(keys.meta, META_PAUSED)).toBe(1);
      await queue.resume();
      expect(await redis.hexists(keys.meta, META_PAUSED)).toBe(0);
      const job = await queue.add(type, task(type), { jobId: randomUUID() });
      await job.log('a line');
      expect(await redis.exists(`${keys.jobPrefix}${job.id}:${JOB_LOGS_SUFFIX}`)).toBe(1);
    } finally {
      await queue.close();
    }
  });

  it('reads a job AFM wrote back by hand (a task put back in its queue) like one of its own', async () => {
    const type = `r-${randomUUID().slice(0, 6)}`;
    const posted = task(type);
    await dispatch.enqueue(posted, 5_000);
    const agentId = randomUUID();
    const [claimed] = await dispatch.claimTasks({
      agentId,
      name: 'layout',
      location: '',
      capabilities: '{}',
      agentTime: 't',
      maxTasks: 1,
      queues: [taskQueueName(type, 1)],
      now: Date.now(),
    });
    expect(claimed).toBeDefined();
    expect(await dispatch.waitingJobs(type, 1)).toBe(0);
    expect(await dispatch.giveBack(agentId, [{ taskId: posted.task_id, data: claimed!.data, postedAt: claimed!.postedAt }])).toEqual([
      posted.task_id,
    ]);
    expect(await dispatch.waitingJobs(type, 1)).toBe(1);
    expect(await dispatch.queuedTask(type, 1, posted.task_id)).toEqual(posted);
    const queue = new Queue(taskQueueName(type, 1), { connection: redis, prefix, skipVersionCheck: true });
    try {
      expect((await queue.getJob(posted.task_id))?.timestamp).toBe(5_000);
      // And BullMQ's own removal finds it where AFM put it.
      await queue.drain();
      expect(await dispatch.waitingJobs(type, 1)).toBe(0);
    } finally {
      await queue.close();
    }
  });

  it("reads, counts and drains the jobs AFM's enqueueTasks adds (many per call) like its own adds", async () => {
    const type = `e-${randomUUID().slice(0, 6)}`;
    const posted = [task(type), task(type), task(type)];
    await Promise.all(posted.map((t, i) => dispatch.post(t, 7_000 + i)));
    const queue = new Queue(taskQueueName(type, 1), { connection: redis, prefix, skipVersionCheck: true });
    const own = task(type);
    try {
      expect(await queue.getWaitingCount()).toBe(3);
      const job = await queue.getJob(posted[0]!.task_id);
      expect(job?.data).toEqual(posted[0]);
      expect(job?.name).toBe(type);
      expect(job?.timestamp).toBe(7_000);
      // The fields BullMQ writes for a plain add, no more, no fewer.
      await queue.add(type, own, { jobId: own.task_id, timestamp: 8_000 });
      const keys = queueKeys(prefix, taskQueueName(type, 1));
      const ours = Object.keys(await redis.hgetall(keys.jobPrefix + posted[0]!.task_id)).sort();
      const theirs = Object.keys(await redis.hgetall(keys.jobPrefix + own.task_id)).sort();
      expect(ours).toEqual(theirs.filter((field) => ours.includes(field)));
      for (const field of Object.values(JOB_FIELD)) expect(ours).toContain(field);
      // Oldest at the right end, like BullMQ's own adds.
      expect(await redis.lrange(keys.wait, 0, -1)).toEqual([own.task_id, ...posted.map((t) => t.task_id).reverse()]);
      await queue.drain();
      expect(await dispatch.waitingJobs(type, 1)).toBe(0);
    } finally {
      await queue.close();
    }
  });
});
