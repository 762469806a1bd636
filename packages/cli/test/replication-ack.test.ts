// README, Redis topologies, "acknowledged means replicated" (issue 13): with REDIS_ACK_REPLICAS=1 a
// post, a claiming poll, a result and a cancel are answered 200 only once a replica holds the write —
// read back from the replica right after each 200 — and 503 saying so when no replica confirms in
// time: then a poll's claims go back to their queue, and the repeat of a post is a 200 (Postgres has it).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dispatch } from '@afm/shared/dispatch/dispatch';
import { dispatchKeys } from '@afm/shared/dispatch/keys';
import { taskQueueName } from '@afm/shared/queues';
import { connectRedis, createRedis } from '@afm/shared/redis';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { startReplicatedRedis, type ReplicatedRedis } from '@afm/shared/testing/redis-servers';
import type { ApiServer } from '@afm/api/server';
import { call, newTask, pollBody } from './support/client.js';
import { startReplica } from './support/topology.js';

describe('REDIS_ACK_REPLICAS=1 with a replica', () => {
  let servers: ReplicatedRedis;
  let env: TestEnv;
  let replica: ApiServer;
  beforeAll(async () => {
    servers = await startReplicatedRedis({ replicas: 1 });
    env = await createTestEnv('ack-replicated', { REDIS_URL: servers.url, REDIS_ACK_REPLICAS: '1' });
    replica = await startReplica(env.config, env.logger);
  }, 60_000);
  afterAll(async () => {
    await replica?.close();
    await env?.cleanup();
    await servers?.close();
  });

  it('answers 200 only once the replica holds the write', async () => {
    const keys = dispatchKeys(env.config.QUEUE_PREFIX);
    const onReplica = (key: string, field: string) => servers.replicas[0]!.ask((client) => client.hget(key, field));
    const type = `ack-${randomUUID().slice(0, 6)}`;
    const [task, other] = [newTask(type), newTask(type)];
    for (const posted of [task, other]) expect((await call(replica.url, 'POST', '/task', posted)).status).toBe(200);
    expect(
      await servers.replicas[0]!.ask((client) => client.sismember(keys.queues, taskQueueName(type, 1))),
      'the queue, on the replica',
    ).toBe(1);

    const agent = randomUUID();
    const polled = await call<{ tasks: { task_id: string }[] }>(replica.url, 'POST', '/tasks', pollBody([type], 2, agent));
    expect(polled.status).toBe(200);
    expect(polled.body.tasks).toHaveLength(2);
    expect(await onReplica(keys.task(task.task_id), 'agent'), 'the claim, on the replica').toBe(agent);

    const answered = await call(replica.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { ok: true } });
    expect(answered.status).toBe(200);
    expect(await onReplica(keys.task(task.task_id), 'state'), 'the outcome, on the replica').toBe('answered');

    expect((await call(replica.url, 'DELETE', `/task/${other.task_id}`)).status).toBe(200);
    expect(await onReplica(keys.task(other.task_id), 'state'), 'the cancellation, on the replica').toBe('answered');
  });
});

describe('REDIS_ACK_REPLICAS=1 with no replica to confirm', () => {
  let env: TestEnv;
  let replica: ApiServer;
  beforeAll(async () => {
    // The shared test Redis has no replica: WAIT 1 can only time out.
    env = await createTestEnv('ack-unconfirmed', { REDIS_ACK_REPLICAS: '1', REDIS_ACK_TIMEOUT: '0.2' });
    replica = await startReplica(env.config, env.logger);
  });
  afterAll(async () => {
    await replica?.close();
    await env?.cleanup();
  });

  it('answers 503 saying so; the poll gives its claims back; the repeated post is a 200', async () => {
    const type = `noack-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    const posted = await call<{ message: string }>(replica.url, 'POST', '/task', task);
    expect(posted.status).toBe(503);
    expect(posted.body.message).toMatch(
      /Redis replication not confirmed: 0 of 1 replicas \(REDIS_ACK_REPLICAS\).*within 200 ms; try again/,
    );
    expect((await call(replica.url, 'POST', '/task', task)).status, 'the repeat: Postgres has it').toBe(200);

    const polled = await call<{ message: string }>(replica.url, 'POST', '/tasks', pollBody([type], 5));
    expect(polled.status).toBe(503);
    expect(polled.body.message).toMatch(/replication not confirmed/);
    const redis = createRedis(env.config, 'client');
    await connectRedis(redis);
    const dispatch = new Dispatch({ commands: redis, queues: redis, prefix: env.config.QUEUE_PREFIX, agentActiveThreshold: 300 });
    try {
      expect(await dispatch.liveState(task.task_id), 'not held by the agent that never got it').not.toBe('claimed');
      expect(await dispatch.waitingJobs(type, 1), 'back in its queue').toBe(1);
    } finally {
      await dispatch.close();
      await redis.quit();
    }

    const cancelled = await call<{ message: string }>(replica.url, 'DELETE', `/task/${task.task_id}`);
    expect(cancelled.status).toBe(503);
    expect(cancelled.body.message).toMatch(/replication not confirmed/);
  });
});
