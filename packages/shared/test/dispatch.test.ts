// docs/protocol.md and §4.2/§4.3 at the Redis level: claims are atomic, oldest first across capabilities,
// one agent per task, first outcome wins. Real Redis, own key prefix.
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '../src/redis.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DispatchScripts, type AgentPoll, type ClaimedJob } from '../src/dispatch/scripts.js';
import { TaskQueues } from '../src/dispatch/task-queues.js';
import { taskQueueName, type TaskJob } from '../src/queues.js';
import { deleteDeployment } from '../src/dispatch/dispatch.js';
import { connectRedis, createRedis } from '../src/redis.js';

const prefix = `test-dispatch-${randomUUID().slice(0, 8)}`;
let redis: RedisClient;
let scripts: DispatchScripts;
let queues: TaskQueues;

beforeAll(async () => {
  redis = createRedis(process.env.AFM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0', 'client');
  await connectRedis(redis);
  scripts = new DispatchScripts(redis, prefix);
  queues = new TaskQueues(redis, prefix);
});

afterAll(async () => {
  await queues.close();
  await deleteDeployment(redis, prefix);
  await redis.quit();
});

const task = (type: string, version = 1): TaskJob => ({
  task_id: randomUUID(),
  test_id: randomUUID(),
  task_type: type,
  task_version: version,
  task_data: { n: Math.random() },
});

const poll = (caps: [string, number][], maxTasks: number, agentId = randomUUID()): AgentPoll => ({
  agentId,
  name: 'agent',
  location: '',
  capabilities: JSON.stringify(Object.fromEntries(caps.map(([type, version]) => [type, { version }]))),
  agentTime: 'now',
  maxTasks,
  queues: caps.map(([type, version]) => taskQueueName(type, version)),
  now: Date.now(),
});

/** Queues a task as the reconciler does (not counted as posted, wakes nobody). */
const enqueue = (t: TaskJob, postedAt: number) => scripts.enqueueTasks([{ task: t, data: JSON.stringify(t), postedAt, newTask: false }]);

const ids = (claimed: ClaimedJob[]) => claimed.map((job) => (JSON.parse(job.data) as TaskJob).task_id);

describe('claimTasks', () => {
  it('claims oldest first across all capability queues, and only matching versions', async () => {
    const [a, b] = [`a-${randomUUID()}`, `b-${randomUUID()}`];
    const posted = [task(a), task(b), task(a), task(b, 2), task(b)];
    const base = Date.now() - 10_000;
    for (const [index, t] of posted.entries()) await enqueue(t, base + index);

    const first = await scripts.claimTasks(
      poll(
        [
          [b, 1],
          [a, 1],
        ],
        2,
      ),
    );
    expect(ids(first)).toEqual([posted[0]!.task_id, posted[1]!.task_id]);
    const rest = await scripts.claimTasks(
      poll(
        [
          [a, 1],
          [b, 1],
        ],
        10,
      ),
    );
    expect(ids(rest)).toEqual([posted[2]!.task_id, posted[4]!.task_id]);
    expect(ids(await scripts.claimTasks(poll([[b, 2]], 10)))).toEqual([posted[3]!.task_id]);
  });

  it('returns the task as posted and leaves BullMQ consistent', async () => {
    const type = `c-${randomUUID()}`;
    const posted = task(type);
    await enqueue(posted, Date.now());
    expect(await queues.get(type, 1).getWaitingCount()).toBe(1);
    const postedAt = Date.now() - 1234;
    await redis.hset(`${prefix}:${taskQueueName(type, 1)}:${posted.task_id}`, 'timestamp', postedAt);
    const [claimed] = await scripts.claimTasks(poll([[type, 1]], 1));
    expect(JSON.parse(claimed!.data)).toEqual(posted);
    expect(claimed!.postedAt).toBe(postedAt);
    expect(await queues.get(type, 1).getWaitingCount()).toBe(0);
    expect(await queues.get(type, 1).getJob(posted.task_id)).toBeUndefined();
  });

  it('with max_tasks 0 registers the agent and claims nothing', async () => {
    const type = `d-${randomUUID()}`;
    await enqueue(task(type), Date.now());
    const request = poll([[type, 1]], 0);
    expect(await scripts.claimTasks(request)).toEqual([]);
    expect(await redis.zscore(scripts.keys.agentsSeen, request.agentId)).toBe(String(request.now));
    expect(await redis.hget(scripts.keys.agent(request.agentId), 'name')).toBe('agent');
  });

  it('skips paused queues', async () => {
    const type = `e-${randomUUID()}`;
    await enqueue(task(type), Date.now());
    await queues.get(type, 1).pause();
    expect(await scripts.claimTasks(poll([[type, 1]], 5))).toEqual([]);
    await queues.get(type, 1).resume();
    expect(await scripts.claimTasks(poll([[type, 1]], 5))).toHaveLength(1);
  });

  it('drops a stale copy of a task that is no longer waiting', async () => {
    const type = `f-${randomUUID()}`;
    const posted = task(type);
    await enqueue(posted, Date.now());
    expect(ids(await scripts.claimTasks(poll([[type, 1]], 1)))).toEqual([posted.task_id]);
    // e.g. the reconciler queued it again while an agent already held it
    await enqueue(posted, Date.now());
    expect(await scripts.claimTasks(poll([[type, 1]], 1))).toEqual([]);
    expect(await queues.get(type, 1).getWaitingCount()).toBe(0);
  });

  it('never gives one task to two agents polling at once', async () => {
    const type = `g-${randomUUID()}`;
    const posted = Array.from({ length: 300 }, () => task(type));
    await Promise.all(posted.map((t, index) => enqueue(t, Date.now() + index)));
    const polls = await Promise.all(Array.from({ length: 40 }, () => scripts.claimTasks(poll([[type, 1]], 10))));
    const claimed = polls.flatMap(ids);
    expect(claimed).toHaveLength(300);
    expect(new Set(claimed).size).toBe(300);
  });

  it('counts waiting tasks over all queues', async () => {
    const before = await scripts.countWaiting();
    const type = `h-${randomUUID()}`;
    await enqueue(task(type), Date.now());
    await enqueue(task(type, 2), Date.now());
    expect(await scripts.countWaiting()).toBe(before + 2);
  });
});

describe('answerTask', () => {
  it('accepts the first outcome of a claimed task only', async () => {
    const type = `i-${randomUUID()}`;
    const posted = task(type);
    await enqueue(posted, Date.now());
    expect((await scripts.answerTask(posted.task_id, { state: 'failed', error: 'x', cause: 'agent_error' }, Date.now())).accepted).toBe(
      false,
    );
    const request = poll([[type, 1]], 1);
    await scripts.claimTasks(request);
    expect(await redis.sismember(scripts.keys.held(request.agentId), posted.task_id)).toBe(1);

    const replies = await Promise.all(
      Array.from({ length: 10 }, (_, n) => scripts.answerTask(posted.task_id, { state: 'completed', result: { n } }, Date.now())),
    );
    expect(replies.filter((reply) => reply.accepted)).toHaveLength(1);
    expect(replies.filter((reply) => !reply.accepted).map((reply) => !reply.accepted && reply.state)).toEqual(Array(9).fill('answered'));
    expect(await redis.sismember(scripts.keys.held(request.agentId), posted.task_id)).toBe(0);
    expect(await redis.zscore(scripts.keys.unsaved, posted.task_id)).not.toBeNull();

    await scripts.finishTask(posted.task_id, 60);
    expect(await scripts.answerTask(posted.task_id, { state: 'failed', error: 'x', cause: 'agent_error' }, Date.now())).toEqual({
      accepted: false,
      state: 'done',
    });
    expect(await redis.zscore(scripts.keys.unsaved, posted.task_id)).toBeNull();
    expect(await redis.ttl(scripts.keys.task(posted.task_id))).toBeGreaterThan(0);
  });

  it('says "missing" for a task Redis does not know, and a restored claim can be answered', async () => {
    const id = randomUUID();
    expect(await scripts.answerTask(id, { state: 'failed', error: 'x', cause: 'agent_error' }, Date.now())).toEqual({
      accepted: false,
      state: 'missing',
    });
    const agent = randomUUID();
    expect(await scripts.restoreClaim(id, agent, 1_000, 'task.x.v1')).toBe(true);
    expect(await scripts.restoreClaim(id, randomUUID(), 2_000, 'task.x.v1')).toBe(false);
    expect(await scripts.answerTask(id, { state: 'failed', error: 'x', cause: 'agent_error' }, Date.now())).toEqual({
      accepted: true,
      agentId: agent,
      claimedAt: 1_000,
      attempts: 1,
    });
  });

  it("given a holder (a bound agent token), accepts only that agent's claim, in the same step", async () => {
    const id = randomUUID();
    const agent = randomUUID();
    await scripts.restoreClaim(id, agent, 1_000, 'task.x.v1');
    expect(await scripts.answerTask(id, { state: 'failed', error: 'x', cause: 'agent_error' }, Date.now(), randomUUID())).toEqual({
      accepted: false,
      state: 'other-agent',
    });
    expect(await redis.hget(scripts.keys.task(id), 'state')).toBe('claimed');
    expect(await scripts.answerTask(id, { state: 'failed', error: 'x', cause: 'agent_error' }, Date.now(), agent)).toMatchObject({
      accepted: true,
      agentId: agent,
    });
  });
});
