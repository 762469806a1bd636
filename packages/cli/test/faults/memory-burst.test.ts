// Issue 11: memory under the worst bursts the limits allow, with the heap flags the Docker image gives
// every role (read from the Dockerfile). An API replica and a worker run as processes; 600 clients at
// once send the largest and most expensive bodies the limits let through, and results for the worker.
// Neither process may die (a replica capped at 96 MB of old space used to die of 300 posts of 250 KB
// task_data); every answer is 200, a 4xx naming a limit, or a 503 "retry later"; and the resident
// memory a minute after the burst is reported.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_AGENT_NAME_LENGTH, MAX_CAPABILITIES, MAX_TASK_TYPE_LENGTH } from '@afm/shared/protocol';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { waitFor } from '@afm/shared/testing/wait';
import { configEnv, freePort, spawnAfm, type AfmProcess } from '../support/topology.js';
import { report } from './support/verify.js';

const CLIENTS = 600;
/** The heap flags of the image (one NODE_OPTIONS for every role). */
const IMAGE_NODE_OPTIONS = /^ENV NODE_OPTIONS="([^"]+)"/m.exec(
  readFileSync(new URL('../../../../Dockerfile', import.meta.url), 'utf8'),
)![1]!;

/** Resident memory in MB (0 once the process is gone). */
function rss(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
  } catch {
    return 0;
  }
}

/** Samples a process's resident memory every 100 ms; `peak()` in MB. */
function watch(pid: number) {
  let peak = rss(pid);
  const timer = setInterval(() => (peak = Math.max(peak, rss(pid))), 100);
  return { peak: () => Math.round(peak), stop: () => clearInterval(timer) };
}

let env: TestEnv;
let replica: AfmProcess;
let worker: AfmProcess;
let url: string;
beforeAll(async () => {
  env = await createTestEnv('fault-memory', { POLL_RATE_LIMIT: '0' });
  const port = await freePort();
  const vars = configEnv(env.config, { POLL_RATE_LIMIT: '0', NODE_OPTIONS: IMAGE_NODE_OPTIONS });
  replica = spawnAfm(['run', '127.0.0.1', String(port)], vars);
  worker = spawnAfm(['worker'], vars);
  url = `http://127.0.0.1:${port}`;
  await waitFor(async () => (await fetch(`${url}/readyz`)).ok, { timeoutMs: 20_000, what: 'the replica' });
});
afterAll(async () => {
  await Promise.all([replica?.kill('SIGTERM'), worker?.kill('SIGTERM')]);
  await env?.cleanup();
});

const alive = (process: AfmProcess) => process.child.exitCode === null && process.child.signalCode === null;

/** Sends every body at once; returns the answers by status (or error code). */
async function burst(path: string, bodies: (string | Buffer)[], retry503 = false): Promise<Record<string, number>> {
  const answers: Record<string, number> = {};
  await Promise.all(
    bodies.map(async (body) => {
      for (;;) {
        let answer: string;
        try {
          const response = await request(url + path, {
            method: 'POST',
            body,
            headers: { 'content-type': 'application/json' },
            headersTimeout: 120_000,
            bodyTimeout: 120_000,
          });
          await response.body.text();
          answer = String(response.statusCode);
        } catch (error) {
          answer = (error as { code?: string }).code ?? (error as Error).message;
        }
        if (answer === '503' && retry503) {
          await sleep(200);
          continue;
        }
        answers[answer] = (answers[answer] ?? 0) + 1;
        return;
      }
    }),
  );
  return answers;
}

// Bodies whose parsed form is as large as JSON gets: a megabyte of `[]` is ~15 MB of arrays.
const emptyArrays = (bytes: number) =>
  `[${Array(Math.floor(bytes / 3))
    .fill('[]')
    .join(',')}]`;
const task = (data: string) =>
  `{"task_id":"${randomUUID()}","test_id":"${randomUUID()}","task_type":"burst","task_version":1,"task_data":{"a":${data}}}`;

describe("memory under the worst bursts the limits allow, with the image's heap flags", () => {
  it('keeps the replica and the worker alive, answering each request with 200, a 4xx or a 503', async () => {
    const replicaMemory = watch(replica.child.pid!);
    const workerMemory = watch(worker.child.pid!);
    const baseline = { replica: Math.round(rss(replica.child.pid!)), worker: Math.round(rss(worker.child.pid!)) };
    const near = (limit: number) => emptyArrays(limit - 400);
    const longType = (n: number) => `${'t'.repeat(MAX_TASK_TYPE_LENGTH - 4)}${String(n).padStart(4, '0')}`;
    const poll = () =>
      JSON.stringify({
        protocol: 1,
        agent_id: randomUUID(),
        agent_name: 'n'.repeat(MAX_AGENT_NAME_LENGTH),
        agent_time: 't',
        agent_location: { country: 'FI', region: '18' },
        agent_capabilities: Object.fromEntries(Array.from({ length: MAX_CAPABILITIES }, (_, n) => [longType(n), { version: 1 }])),
        max_tasks: 1,
      });
    const bodyLimit = env.config.BODY_LIMIT;
    const scenarios: { what: string; path: string; bodies: () => (string | Buffer)[]; allowed: string[] }[] = [
      {
        what: 'bodies over BODY_LIMIT',
        path: '/task',
        bodies: () => Array(CLIENTS).fill(Buffer.alloc(bodyLimit + 50_000, 0x61)),
        allowed: ['413'],
      },
      {
        what: 'BODY_LIMIT of nested arrays',
        path: '/task',
        bodies: () => Array(CLIENTS).fill(task(emptyArrays(bodyLimit - 200))),
        allowed: ['413', '503'],
      },
      {
        what: 'task_data of TASK_DATA_LIMIT, nested arrays',
        path: '/task',
        bodies: () => Array.from({ length: CLIENTS }, () => task(near(env.config.TASK_DATA_LIMIT))),
        allowed: ['200', '503'],
      },
      {
        what: 'results of RESULT_LIMIT for unknown tasks',
        path: '/tasks/response',
        bodies: () =>
          Array.from(
            { length: CLIENTS },
            () => `{"protocol":1,"task_id":"${randomUUID()}","task_data":{"a":${near(env.config.RESULT_LIMIT)}}}`,
          ),
        allowed: ['400', '503'],
      },
      {
        what: `polls naming ${MAX_CAPABILITIES} long task types`,
        path: '/tasks',
        bodies: () => Array.from({ length: CLIENTS }, poll),
        allowed: ['200', '503'],
      },
    ];
    const answered: Record<string, Record<string, number>> = {};
    for (const { what, path, bodies, allowed } of scenarios) {
      const answers = await burst(path, bodies());
      answered[what] = answers;
      expect(
        Object.keys(answers).filter((answer) => !allowed.includes(answer)),
        `${what}: ${JSON.stringify(answers)}`,
      ).toEqual([]);
      expect(alive(replica), `the replica survives ${what}`).toBe(true);
    }

    // The worker's turn: results of RESULT_LIMIT for claimed tasks, all accepted (503s retried).
    const type = `wb-${randomUUID().slice(0, 6)}`;
    const ids = Array.from({ length: CLIENTS }, () => randomUUID());
    await burst(
      '/task',
      ids.map((id) => JSON.stringify({ task_id: id, test_id: randomUUID(), task_type: type, task_version: 1, task_data: {} })),
      true,
    );
    const agent = {
      protocol: 1,
      agent_id: randomUUID(),
      agent_name: 'burst',
      agent_time: 't',
      agent_capabilities: { [type]: { version: 1 } },
      max_tasks: 100,
    };
    for (let claimed = 0; claimed < CLIENTS;) {
      const response = await request(`${url}/tasks`, {
        method: 'POST',
        body: JSON.stringify(agent),
        headers: { 'content-type': 'application/json' },
      });
      claimed += ((await response.body.json()) as { tasks: unknown[] }).tasks.length;
    }
    const result = near(env.config.RESULT_LIMIT);
    answered['results of RESULT_LIMIT, accepted'] = await burst(
      '/tasks/response',
      ids.map((id) => `{"protocol":1,"task_id":"${id}","task_data":{"a":${result}}}`),
      true,
    );
    expect(answered['results of RESULT_LIMIT, accepted']).toEqual({ 200: CLIENTS });
    await waitFor(
      async () => {
        const response = await fetch(`${url}/task/${ids[ids.length - 1]}`);
        return response.ok && ((await response.json()) as { task_completed?: string }).task_completed;
      },
      { timeoutMs: 120_000, intervalMs: 500, what: 'the worker to store the results' },
    ).catch((error: unknown) => {
      throw new Error(
        `${(error as Error).message}; replica alive ${alive(replica)}, worker alive ${alive(worker)}: ${worker.output().slice(-3_000)}`,
      );
    });
    expect(alive(worker), `the worker survives: ${worker.output().slice(-2_000)}`).toBe(true);

    const peak = { replica: replicaMemory.peak(), worker: workerMemory.peak() };
    await sleep(60_000);
    replicaMemory.stop();
    workerMemory.stop();
    const minuteLater = { replica: Math.round(rss(replica.child.pid!)), worker: Math.round(rss(worker.child.pid!)) };
    expect([alive(replica), alive(worker)]).toEqual([true, true]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    report('Memory burst (RSS in MB):', { nodeOptions: IMAGE_NODE_OPTIONS, clients: CLIENTS, baseline, peak, minuteLater, answered });
  }, 600_000);
});
