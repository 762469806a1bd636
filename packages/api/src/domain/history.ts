/**
 * What the dashboard charts and an operator looks into, from Redis alone: the queues' history and
 * the routes' latency over the last hours (GET /api/history), and the worker's side (GET /api/worker):
 * its results queue, its repeatable jobs, its processes.
 */
import type { z } from 'zod';
import { describeJob, jobState } from '@afm/shared/dispatch/job-health';
import { WORKER_STALE_MS } from '@afm/shared/dispatch/workers';
import { readLatency } from '@afm/shared/history/latency';
import { HISTORY_STEP_MS, historySeries, readSamples } from '@afm/shared/history/samples';
import { parseTaskQueueName } from '@afm/shared/queues';
import type { History, WorkerInfo } from '@afm/shared/read-api';
import { isoUtc } from '@afm/shared/time';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

type Deps = Pick<ApiDeps, 'dispatch' | 'config'>;

const iso = (ms: number | null) => (ms === null ? null : isoUtc(new Date(ms)));

/**
 * The last `hours` (at most HISTORY_HOURS): every queue summed, the queues of task type `type` one by
 * one, and the charted routes' latency — at most MAX_POINTS points a series, so that the answer stays
 * small however many queues and hours there are.
 */
export async function readHistory(deps: Deps, hours: number, type?: string, now = Date.now()): Promise<z.infer<typeof History>> {
  const { dispatch, config } = deps;
  const from = now - Math.min(hours, config.HISTORY_HOURS) * 3_600_000;
  const [samples, latency] = await Promise.all([
    guard('Redis', () => readSamples(dispatch.redis, dispatch.keys, from)),
    guard('Redis', () => readLatency(dispatch.redis, dispatch.keys, from, now)),
  ]);
  const series = historySeries(samples, from, { chart: (name) => type !== undefined && parseTaskQueueName(name)?.type === type });
  const queues = [...series.queues].flatMap(([name, points]) => {
    const parsed = parseTaskQueueName(name);
    return parsed ? [{ task_type: parsed.type, task_version: parsed.version, location: parsed.location ?? null, points, name }] : [];
  });
  queues.sort((a, b) => a.name.localeCompare(b.name));
  return {
    step_seconds: HISTORY_STEP_MS / 1000,
    window_hours: config.HISTORY_HOURS,
    from: isoUtc(new Date(from)),
    to: isoUtc(new Date(now)),
    queues: queues.map(({ name: _name, ...queue }) => queue),
    totals: series.totals,
    latency,
  };
}

/** The worker as Redis knows it: results waiting to be written, its jobs' schedules and health, its processes. */
export async function readWorker(deps: Pick<ApiDeps, 'dispatch'>, now = Date.now()): Promise<z.infer<typeof WorkerInfo>> {
  const { dispatch } = deps;
  const [counts, schedulers, health, workers] = await Promise.all([
    guard('Redis', () => dispatch.results.getJobCounts('waiting', 'active', 'delayed', 'failed')),
    guard('Redis', () => dispatch.jobSchedulers()),
    guard('Redis', () => dispatch.jobHealth()),
    guard('Redis', () => dispatch.knownWorkers()),
  ]);
  const names = [...new Set([...schedulers.map((s) => s.job), ...health.map((h) => h.job)])].sort();
  return {
    results: { waiting: counts.waiting ?? 0, active: counts.active ?? 0, delayed: counts.delayed ?? 0, failed: counts.failed ?? 0 },
    jobs: names.map((job) => {
      const schedule = schedulers.find((s) => s.job === job);
      const known = health.find((h) => h.job === job);
      return {
        job,
        every_ms: schedule?.everyMs ?? null,
        next_run: iso(schedule?.nextAt ?? null),
        last_run: iso(known?.lastRunAt ?? null),
        last_success: iso(known?.lastOkAt ?? null),
        failures: known?.failures ?? 0,
        state: known ? jobState(known, now) : 'unknown',
        status: known ? describeJob(known, now) : 'not run yet',
      };
    }),
    workers: workers.map((worker) => ({
      id: worker.id,
      last_beat: isoUtc(new Date(worker.lastBeat)),
      live: now - worker.lastBeat <= WORKER_STALE_MS,
    })),
  };
}
