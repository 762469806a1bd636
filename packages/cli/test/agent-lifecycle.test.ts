// docs/protocol.md, "Agents going silent" in real time, with thresholds of a few seconds: API replica + worker running their
// repeatable cleanup job, agents polling over HTTP.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import type { ApiServer } from '@afm/api/server';
import { call, newTask, poll } from './support/client.js';
import { startInProcessWorker, startReplica } from './support/topology.js';

const LIFECYCLE = { AGENT_ACTIVE_THRESHOLD: '2', AGENT_DROP_THRESHOLD: '4', CLEANUP_INTERVAL: '0.5' };

interface Afm {
  env: TestEnv;
  api: ApiServer;
  worker: { close(): Promise<void> };
}
const started: Afm[] = [];
async function startAfm(label: string, overrides: Record<string, string>): Promise<Afm> {
  const env = await createTestEnv(label, overrides);
  const afm = { env, api: await startReplica(env.config, env.logger), worker: await startInProcessWorker(env.config, env.logger) };
  started.push(afm);
  return afm;
}

let afm: Afm;
beforeAll(async () => {
  afm = await startAfm('lifecycle', LIFECYCLE);
});
afterAll(async () => {
  for (const { api, worker, env } of started) {
    await api.close();
    await worker.close();
    await env.cleanup();
  }
});

async function claimOne(base: string, agentId = randomUUID()) {
  const type = `lc-${randomUUID().slice(0, 8)}`;
  const task = newTask(type);
  expect((await call(base, 'POST', '/task', task)).status).toBe(200);
  expect(await poll(base, [type], 1, agentId)).toHaveLength(1);
  return { task, type, agentId, claimedAt: Date.now() };
}

const view = async (base: string, id: string) => (await call(base, 'GET', `/task/${id}`)).body;

describe('agent lifecycle (docs/protocol.md, "Agents going silent")', () => {
  it("fails a silent agent's task within seconds of AGENT_ACTIVE_THRESHOLD, and refuses its late result", async () => {
    const { task, claimedAt } = await claimOne(afm.api.url);
    const failed = await waitFor(
      async () => (await view(afm.api.url, task.task_id)).task_failed && (await view(afm.api.url, task.task_id)),
      {
        timeoutMs: 10_000,
        intervalMs: 100,
        what: 'the task to fail',
      },
    );
    const failedAt = Date.parse(failed.task_failed);
    expect(failedAt - claimedAt).toBeGreaterThanOrEqual(2_000);
    expect(failed.task_error).toMatch(/^agent went silent: .* was last seen \d{4}-\d\d-\d\dT/);
    const late = await call(afm.api.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { late: 1 } });
    expect(late.status).toBe(400);
    expect(await view(afm.api.url, task.task_id)).toEqual(failed);
  });

  it('lets an agent that keeps polling with max_tasks 0 keep its task past every threshold', async () => {
    const { task, type, agentId } = await claimOne(afm.api.url);
    const silent = await claimOne(afm.api.url); // the control: the same age, but silent
    const until = Date.now() + 5_000; // beyond both thresholds
    while (Date.now() < until) {
      expect(await poll(afm.api.url, [type], 0, agentId)).toEqual([]);
      await sleep(400); // the agent's own polling period
    }
    expect((await view(afm.api.url, silent.task.task_id)).task_failed).toBeDefined();
    expect(await view(afm.api.url, task.task_id)).not.toHaveProperty('task_failed');
    expect(
      (await call(afm.api.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { long: true } })).status,
    ).toBe(200);
    await waitFor(async () => (await view(afm.api.url, task.task_id)).task_result?.long, { what: 'the result' });
    expect((await call(afm.api.url, 'GET', '/status')).body.agents).toBeGreaterThanOrEqual(1);
  });

  it('AUTO_CLEANUP=false turns cleanup off', async () => {
    const off = await startAfm('lifecycle-off', { ...LIFECYCLE, AUTO_CLEANUP: 'false' });
    const kept = await claimOne(off.api.url);
    const control = await claimOne(afm.api.url);
    await waitFor(async () => (await view(afm.api.url, control.task.task_id)).task_failed, {
      timeoutMs: 10_000,
      what: 'the control task to fail',
    });
    expect(await view(off.api.url, kept.task.task_id)).not.toHaveProperty('task_failed');
    expect(
      (await call(off.api.url, 'POST', '/tasks/response', { protocol: 1, task_id: kept.task.task_id, task_error: 'fine' })).status,
    ).toBe(200);
  });
});
