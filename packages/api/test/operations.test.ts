// Issue 4: /healthz, /readyz (503 naming the store that is down), /metrics (each replica's own figures) and
// /metrics/fleet (fleet figures, the same from every replica; issue 15), /docs (OpenAPI from the zod schemas, every route with its 4xx/5xx answers).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb } from '@afm/shared/db/connect';
import { createTaskStore } from '@afm/shared/db/tasks';
import { FAILING_AFTER, recordJobRun } from '@afm/shared/dispatch/job-health';
import { WORKER_STALE_MS, workerBeat, workerRetired } from '@afm/shared/dispatch/workers';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { buildApp } from '../src/app.js';
import { openApiDeps, type OpenedApiDeps } from '../src/deps.js';
import { startApiHarness, type ApiHarness } from './harness.js';

let h: ApiHarness;
let other: { deps: OpenedApiDeps; app: Awaited<ReturnType<typeof buildApp>> };
beforeAll(async () => {
  h = await startApiHarness('operations');
  const deps = await openApiDeps(h.env.config, h.env.logger);
  other = { deps, app: await buildApp(deps) };
});
afterAll(async () => {
  await other.app.close();
  await other.deps.close();
  await h.close();
});

const json = (body: unknown) => ({ payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** One sample of a metric in Prometheus text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  const line = text
    .split('\n')
    .find((l) => l.startsWith(name) && (l[name.length] === ' ' || l[name.length] === '{') && wanted.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('health', () => {
  it('/healthz answers while the process lives', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/healthz' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ status: 'alive' });
  });

  it('logs the 503s of an outage once with the stack, not once per request, and when requests succeed again', async () => {
    const lines: Record<string, unknown>[] = [];
    const logger = pino({ level: 'info' }, new Writable({ write: (chunk, _enc, done) => (lines.push(JSON.parse(String(chunk))), done()) }));
    const down = createDb('postgres://postgres@127.0.0.1:1/none');
    const app = await buildApp({ ...h.deps, db: down, tasks: createTaskStore(down), logger });
    try {
      for (let n = 0; n < 10; n++) expect((await app.inject({ method: 'GET', url: `/task/${randomUUID()}` })).statusCode).toBe(503);
      const outage = lines.filter((line) => String(line.msg).startsWith('Storage (requests answered 503)'));
      expect(outage).toHaveLength(1);
      expect(outage[0]).toMatchObject({ level: 40, err: { stack: expect.any(String) } });
      expect(lines.filter((line) => (line.level as number) >= 40)).toHaveLength(1);
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      expect(lines.at(-1)!.msg).toMatch(/^Storage \(requests answered 503\) reachable again after 10 errors/);
    } finally {
      await app.close();
      await down.destroy();
    }
  });

  it('/readyz is 200 when both stores answer, 503 naming the one that does not', async () => {
    // A health checker's cache-buster is left alone.
    expect((await h.app.inject({ method: 'GET', url: '/readyz?_=1733140000' })).statusCode).toBe(200);
    expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json()).toEqual({
      status: 'ready',
      redis: 'ok',
      postgres: 'ok',
      workers: 0,
      jobs: {},
    });
    const down = createDb('postgres://postgres@127.0.0.1:1/none');
    const app = await buildApp({ ...h.deps, db: down });
    try {
      const response = await app.inject({ method: 'GET', url: '/readyz' });
      expect(response.statusCode).toBe(503);
      expect(response.json()).toMatchObject({
        statusCode: 503,
        code: 'AFM_ERR_UNAVAILABLE',
        message: 'Postgres unreachable',
        redis: 'ok',
        postgres: expect.stringMatching(/^unreachable: /),
      });
      // liveness does not depend on storage
      expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
      // ?stores=redis (the Kubernetes readiness probe): polls and results need Redis alone.
      const redisOnly = await app.inject({ method: 'GET', url: '/readyz?stores=redis' });
      expect(redisOnly.statusCode).toBe(200);
      expect(redisOnly.json()).toMatchObject({ status: 'degraded', redis: 'ok', postgres: expect.stringMatching(/^unreachable: /) });
      expect((await app.inject({ method: 'GET', url: '/readyz?stores=postgres' })).statusCode).toBe(400);
    } finally {
      await app.close();
      await down.destroy();
    }
  });

  it('/readyz and afm_workers count the workers that beat lately, without making readiness depend on them', async () => {
    const keys = h.deps.dispatch.keys;
    const now = Date.now();
    await workerBeat(h.deps.dispatch.redis, keys, 'worker-live', now);
    await workerBeat(h.deps.dispatch.redis, keys, 'worker-killed', now - WORKER_STALE_MS - 1_000);
    try {
      const ready = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(ready.statusCode).toBe(200);
      expect(ready.json()).toMatchObject({ workers: 1 });
      expect(sample((await h.app.inject({ method: 'GET', url: '/metrics/fleet' })).body, 'afm_workers')).toBe(1);
      await workerRetired(h.deps.dispatch.redis, keys, 'worker-live');
      expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'ready', workers: 0 });
    } finally {
      await h.deps.dispatch.redis.del(keys.workers);
    }
  });
});

describe('maintenance jobs of the worker (issue 11)', () => {
  it('/readyz says degraded, naming the job and its cause, while one fails or stopped running; metrics count it', async () => {
    const keys = h.deps.dispatch.keys;
    const now = Date.now();
    try {
      await recordJobRun(h.deps.dispatch.redis, keys, 'reconcile', 1_000, null, now);
      expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({ status: 'ready', jobs: { reconcile: 'ok' } });
      // One failed run may be a passing fault; three in a row are not.
      for (let run = 1; run <= FAILING_AFTER; run++) {
        await recordJobRun(
          h.deps.dispatch.redis,
          keys,
          'sync',
          1_000,
          'agents: bind message has 70000 parameter formats but 0 parameters',
          now - 3_000 + run * 1_000,
        );
        const state = (await h.app.inject({ method: 'GET', url: '/readyz' })).json();
        expect(state.status, `after ${run} failed runs`).toBe(run < FAILING_AFTER ? 'ready' : 'degraded');
      }
      const degraded = await h.app.inject({ method: 'GET', url: '/readyz' });
      expect(degraded.statusCode, 'the replica itself still serves').toBe(200);
      expect(degraded.json().jobs.sync).toMatch(/^failing since .* \(3 runs\): agents: bind message/);
      // A job that has not run for long (its scheduler gone, no worker) is stalled.
      await recordJobRun(h.deps.dispatch.redis, keys, 'cleanup', 10_000, null, now - 120_000);
      expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json().jobs.cleanup).toMatch(/^stalled: not run since/);
      const metrics = (await h.app.inject({ method: 'GET', url: '/metrics/fleet' })).body;
      expect(sample(metrics, 'afm_worker_job_failures', { job: 'sync' })).toBe(3);
      expect(sample(metrics, 'afm_worker_job_stalled', { job: 'cleanup' })).toBe(1);
      expect(sample(metrics, 'afm_worker_job_runs_total', { job: 'sync', outcome: 'failed' })).toBe(3);
      expect(sample(metrics, 'afm_worker_job_last_success_timestamp_seconds', { job: 'reconcile' })).toBeCloseTo(now / 1000, 0);
      await recordJobRun(h.deps.dispatch.redis, keys, 'sync', 1_000, null);
      await recordJobRun(h.deps.dispatch.redis, keys, 'cleanup', 10_000, null);
      expect((await h.app.inject({ method: 'GET', url: '/readyz' })).json()).toMatchObject({
        status: 'ready',
        jobs: { sync: 'ok', cleanup: 'ok' },
      });
    } finally {
      await h.deps.dispatch.redis.del(keys.jobs, keys.jobRuns);
    }
  });
});

/** The metric names of a Prometheus text, with their types. */
const types = (text: string) => new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1]!, match[2]!]));

describe('/metrics and /metrics/fleet', () => {
  it('reports waiting, in progress, oldest age, agents and event counters on /metrics/fleet, the same from every replica; each replica its own on /metrics', async () => {
    const type = `m-${randomUUID().slice(0, 6)}`;
    const tasks = Array.from({ length: 3 }, () => ({ task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1 }));
    for (const task of tasks) expect((await h.app.inject({ method: 'POST', url: '/task', ...json(task) })).statusCode).toBe(200);
    const agent = randomUUID();
    const poll = {
      protocol: 1,
      agent_id: agent,
      agent_name: 'm',
      agent_time: 't',
      agent_capabilities: { [type]: { version: 1 } },
      max_tasks: 2,
    };
    const claimed = (await other.app.inject({ method: 'POST', url: '/tasks', ...json(poll) })).json().tasks;
    expect(claimed).toHaveLength(2);
    await h.app.inject({ method: 'POST', url: '/tasks/response', ...json({ protocol: 1, task_id: claimed[0].task_id, task_data: {} }) });

    const labels = { task_type: type, task_version: '1' };
    const fleet = [
      (await h.app.inject({ method: 'GET', url: '/metrics/fleet' })).body,
      (await other.app.inject({ method: 'GET', url: '/metrics/fleet' })).body,
    ];
    for (const text of fleet) {
      expect(sample(text, 'afm_tasks_waiting', labels)).toBe(1);
      expect(sample(text, 'afm_tasks_in_progress', labels)).toBe(1);
      expect(sample(text, 'afm_tasks_posted_total', labels)).toBe(3);
      expect(sample(text, 'afm_tasks_claimed_total', labels)).toBe(2);
      expect(sample(text, 'afm_tasks_completed_total', labels)).toBe(1);
      expect(sample(text, 'afm_oldest_waiting_task_age_seconds', labels)).toBeGreaterThanOrEqual(0);
      expect(sample(text, 'afm_agents_active')).toBeGreaterThanOrEqual(1);
    }
    const texts = [
      (await h.app.inject({ method: 'GET', url: '/metrics' })).body,
      (await other.app.inject({ method: 'GET', url: '/metrics' })).body,
    ];
    // per-replica histograms: the replica that handed out the tasks observed their waits
    expect(sample(texts[1]!, 'afm_task_claim_wait_seconds_count')).toBe(2);
    expect(sample(texts[0]!, 'afm_task_run_seconds_count')).toBe(1);
    expect(sample(texts[0]!, 'afm_http_request_duration_seconds_count', { method: 'POST', route: '/task', status_code: '200' })).toBe(3);
    expect(texts[0]).toContain('afm_process_cpu_user_seconds_total');
    // Summing /metrics over replicas counts each figure once: no fleet figure is there, no replica's in the fleet's.
    const own = types(texts[0]!);
    const shared = types(fleet[0]!);
    expect([...own.keys()].filter((name) => shared.has(name))).toEqual([]);
    expect(own.has('afm_tasks_waiting')).toBe(false);
    expect(shared.has('afm_http_request_duration_seconds')).toBe(false);
    expect(shared.get('afm_tasks_posted_total')).toBe('counter');
  });

  it('names no gauge like a counter (_total)', async () => {
    for (const url of ['/metrics', '/metrics/fleet']) {
      const gauges = [...types((await h.app.inject({ method: 'GET', url })).body)].filter(([, type]) => type === 'gauge');
      expect(gauges.length, url).toBeGreaterThan(0);
      expect(
        gauges.filter(([name]) => name.endsWith('_total')),
        url,
      ).toEqual([]);
    }
  });
});

describe('/docs', () => {
  it('serves the OpenAPI document with every route and its error answers', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const spec = response.json();
    expect(spec.openapi).toMatch(/^3\./);
    const routes = Object.entries(spec.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>).flatMap(
      ([path, methods]) =>
        Object.entries(methods).map(([method, operation]) => ({
          route: `${method.toUpperCase()} ${path}`,
          codes: Object.keys(operation.responses),
        })),
    );
    expect(routes.map((route) => route.route).sort()).toEqual(
      [
        'GET /healthz',
        'GET /metrics',
        'GET /metrics/fleet',
        'GET /readyz',
        'GET /status',
        'GET /task/{task_id}',
        'DELETE /task/{task_id}',
        'POST /task',
        'POST /tasks',
        'POST /tasks/response',
        'GET /api/summary',
        'GET /api/tasks',
        'POST /api/tasks',
        'GET /api/tasks/{task_id}',
        'GET /api/tests/{test_id}',
        'GET /api/agents',
        'GET /api/agents/{agent_id}',
        'GET /api/queues',
        'POST /api/queues/{task_type}/pause',
        'POST /api/queues/{task_type}/resume',
        'POST /api/queues/{task_type}/drain',
        'POST /api/tasks/{task_id}/cancel',
        'POST /api/tasks/{task_id}/retry',
        'DELETE /api/agents/{agent_id}',
        'GET /api/history',
        'GET /api/worker',
      ].sort(),
    );
    for (const { route, codes } of routes) {
      expect(
        codes.some((code) => code.startsWith('4') || code.startsWith('5')),
        route,
      ).toBe(true);
    }
    expect(routes.find((r) => r.route === 'POST /tasks')!.codes).toEqual(expect.arrayContaining(['200', '400', '413', '503']));
    // the request schemas are the zod ones: closed objects, the UUID pattern
    const poll = spec.components.schemas.PollRequest;
    expect(poll.additionalProperties).toBe(false);
    expect(poll.properties.agent_id.pattern).toContain('[a-fA-F0-9]{8}');
    const ui = await h.app.inject({ method: 'GET', url: '/docs/' });
    expect(ui.statusCode).toBe(200);
    expect(ui.headers['content-type']).toContain('text/html');
    expect(ui.body).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs)/);
  });
});
