// Issue 4: graceful shutdown. Under load through the balancer, an API replica and the worker get
// SIGTERM: they exit 0 within the bound, no request fails, no accepted result is lost.
import { randomUUID } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '@afm/shared/db/connect';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import { call, newTask, pollBody, type Dispatched } from './support/client.js';
import { configEnv, freePort, spawnAfm, spawnWorker, type AfmProcess } from './support/topology.js';
import { startTopology, type RunningTopology } from './support/topology-process.js';

let env: TestEnv;
let topology: RunningTopology;
let spare: AfmProcess | undefined;
beforeAll(async () => {
  env = await createTestEnv('shutdown');
  topology = await startTopology(env.config, await freePort());
});
afterAll(async () => {
  await spare?.kill('SIGTERM');
  await topology.stop();
  await env.cleanup();
});

describe('graceful shutdown', () => {
  it('SIGTERM to a replica and to the worker under load: exit 0, no failed request, no lost result', async () => {
    const type = `sd-${randomUUID().slice(0, 6)}`;
    const failures: string[] = [];
    const answered: string[] = [];
    let posted = 0;
    let stop = false;
    const record = (what: string, status: number, text: string) => {
      if (status !== 200) failures.push(`${what} → ${status} ${text.slice(0, 200)}`);
      return status === 200;
    };
    const bpms = async () => {
      while (!stop) {
        const task = newTask(type, { n: posted });
        try {
          const reply = await call(topology.lb, 'POST', '/task', task);
          if (record('POST /task', reply.status, reply.text)) posted++;
        } catch (error) {
          failures.push(`POST /task threw ${(error as Error).message}`);
        }
      }
    };
    const agent = async () => {
      const agentId = randomUUID();
      while (!stop) {
        try {
          const reply = await call<{ tasks: Dispatched[] }>(topology.lb, 'POST', '/tasks', pollBody([type], 5, agentId));
          if (!record('POST /tasks', reply.status, reply.text)) continue;
          for (const task of reply.body.tasks) {
            const result = await call(topology.lb, 'POST', '/tasks/response', {
              protocol: 1,
              task_id: task.task_id,
              task_data: { n: task.task_data.n },
            });
            if (record(`POST /tasks/response ${task.task_id}`, result.status, result.text)) answered.push(task.task_id);
          }
        } catch (error) {
          failures.push(`agent threw ${(error as Error).message}`);
        }
      }
    };
    const load = Promise.all([...Array.from({ length: 6 }, bpms), ...Array.from({ length: 6 }, agent)]);

    await waitFor(() => answered.length >= 200, { timeoutMs: 30_000, what: '200 results' });
    // As in a Kubernetes rollout (and the 5 s preStop of deploy/kubernetes/api.yaml): out of the
    // balancer's rotation, then SIGTERM. Requests already sent to it must all be answered. (A raw
    // SIGTERM would let the kernel reset connections still waiting to be accepted when the replica
    // stops listening; a balancer passes those on only if it can tell nothing was sent.)
    topology.stopReplica('api-1');
    process.kill(topology.pid('worker'), 'SIGTERM');
    spare = spawnWorker(env.config);
    const [replicaExit, workerExit] = await Promise.all([topology.exited('api-1', 16_000), topology.exited('worker', 16_000)]);
    const answeredAtStop = answered.length;
    await waitFor(() => answered.length >= answeredAtStop + 200, { timeoutMs: 30_000, what: '200 more results on the other replica' });
    stop = true;
    await load;

    expect(replicaExit).toMatchObject({ code: 0 });
    expect(workerExit).toMatchObject({ code: 0 });
    expect(failures).toEqual([]);
    const db = createDb(env.config.DATABASE_URI, { max: 1 });
    try {
      await waitFor(
        async () => {
          const rows = await db.selectFrom('tasks').select('id').where('id', 'in', answered).where('state', '=', 'completed').execute();
          return rows.length === answered.length;
        },
        { timeoutMs: 30_000, what: 'every accepted result in Postgres' },
      );
    } finally {
      await db.destroy();
    }
  }, 120_000);
});

describe('SIGTERM while starting', () => {
  it('exits 0 in order, not killed half-started, when the signal comes while Postgres keeps it waiting', async () => {
    // A "Postgres" that takes connections and never answers: the start waits in AUTO_CREATE.
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const proc = spawnAfm(
      ['run', '127.0.0.1', String(await freePort())],
      configEnv(env.config, { DATABASE_URI: `postgres://postgres@127.0.0.1:${port}/none`, AUTO_CREATE: 'true', LOG_LEVEL: 'info' }),
    );
    try {
      await waitFor(() => sockets.size > 0, { what: 'the start waiting for Postgres' });
      expect(await proc.kill('SIGTERM')).toBe(0);
      expect(proc.output()).toContain('stopped while starting');
    } finally {
      await proc.kill('SIGKILL');
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  }, 30_000);
});
