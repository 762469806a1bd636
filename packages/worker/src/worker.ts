/**
 * The worker process: consumes the `results` queue into Postgres and runs the repeatable maintenance
 * jobs of jobs/table.ts on BullMQ job schedulers — one schedule however many workers run.
 *
 * Each maintenance job is independent: a job that fails does not hold up the others (they run side by
 * side), its health is kept in Redis for /readyz and metrics, and its failure is logged once per cause,
 * not once per run. Schedulers live in Redis: when Redis loses its data the worker schedules them again
 * at its next heartbeat, without a restart.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { getHeapStatistics } from 'node:v8';
import { Queue, Worker, type Job } from 'bullmq';
import { newWorkerId, WORKER_BEAT_MS } from '@afm/shared/dispatch/workers';
import { OutageLog } from '@afm/shared/log-throttle';
import type { RedisClient } from '@afm/shared/redis';
import {
  MAINTENANCE_JOBS,
  MAINTENANCE_QUEUE,
  RESULTS_QUEUE,
  type MaintenanceJobName,
  type ResultJob,
  type ResultsJobName,
} from '@afm/shared/queues';
import type { WorkerDeps } from './deps.js';
import { MAINTENANCE_JOB_TABLE } from './jobs/table.js';
import { recordResult } from './services/results.service.js';

export interface WorkerOptions {
  /** Results jobs in progress at once (default: resultsConcurrency): they share batched Postgres writes, so many at once make large batches. */
  concurrency?: number;
  /** Period of the sync, reconcile and deadlines jobs in ms (default 1000). */
  syncEveryMs?: number;
  /** How old a task must be before the reconciler queues it when Redis lacks it (default 30 s). */
  reconcileGraceMs?: number;
  /** Period of the history job in ms (default HISTORY_STEP_MS, 10 s). */
  historyEveryMs?: number;
  /** How long Redis must have answered before the watchdog acts, and between its restarts (default 10 s). */
  watchdogGraceMs?: number;
}

export interface RunningWorker {
  /** Finishes (or safely returns) current jobs, then stops. Does not close `deps`. */
  close(): Promise<void>;
  /** Times the watchdog rebuilt the BullMQ consumers. */
  restarts(): number;
  /** Stops the maintenance consumer fetching jobs, as a wedged connection does (the watchdog's test). */
  pauseConsumersForTest(): Promise<void>;
}

const resultHandlers: Record<ResultsJobName, (deps: WorkerDeps, job: Job<ResultJob>, signal?: AbortSignal) => Promise<unknown>> = {
  result: (deps, job, signal) => recordResult(deps, job.data, signal),
};

/**
 * Results jobs in progress at once: up to 200, as many as a quarter of the heap holds at the largest
 * result the API accepts (RESULT_LIMIT, as JSON text, two bytes a character at worst) — with the
 * image's 96 MB old space, about 50.
 */
export function resultsConcurrency(resultLimit: number, heapLimit = getHeapStatistics().heap_size_limit): number {
  return Math.max(8, Math.min(200, Math.floor(heapLimit / 4 / (2 * resultLimit + 16_384))));
}

const WATCHDOG_GRACE_MS = 10_000;
/** A job not run for this many of its periods (and at least the grace) has stopped, for the watchdog. */
const WATCHDOG_PERIODS = 5;

/** A still-failing job is logged again after this long, with how many runs failed. */
const RELOG_FAILING_MS = 600_000;

const isMaintenanceJob = (name: string): name is MaintenanceJobName => (MAINTENANCE_JOBS as readonly string[]).includes(name);

export async function startWorker(deps: WorkerDeps, options: WorkerOptions = {}): Promise<RunningWorker> {
  const bullmq = deps.dispatch.bullmqOptions;
  const log = deps.logger;
  // BullMQ's consumers report each failed reconnection of their own connections; the heartbeat reaching Redis ends the outage.
  const consumerOutage = new OutageLog(log, 'Redis (BullMQ consumers)');

  const periods = Object.fromEntries(MAINTENANCE_JOBS.map((name) => [name, MAINTENANCE_JOB_TABLE[name].everyMs(deps, options)])) as Record<
    MaintenanceJobName,
    number | null
  >;
  const failing = new Map<MaintenanceJobName, { cause: string; runs: number; loggedAt: number }>();
  const running = new Set<MaintenanceJobName>();

  /** Runs one maintenance job, records its health, and logs a failure once per cause. */
  async function runMaintenance(name: MaintenanceJobName): Promise<unknown> {
    // A run still going when the next is due (a slow rebuild after Redis lost its data) is not doubled.
    if (running.has(name)) {
      await deps.dispatch.touchJob(name).catch(() => undefined);
      return { skipped: 'the previous run is still going' };
    }
    running.add(name);
    const record = (error: string | null) => deps.dispatch.recordJobRun(name, periods[name] ?? 0, error).catch(() => undefined);
    try {
      const report = await MAINTENANCE_JOB_TABLE[name].run(deps, options);
      await record(null);
      const streak = failing.get(name);
      if (streak) {
        failing.delete(name);
        log.info({ job: name, failedRuns: streak.runs }, 'maintenance job recovered');
      }
      return report;
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      await record(message);
      const cause = message.replace(/\d+/g, '#');
      const streak = failing.get(name);
      const now = Date.now();
      if (!streak || streak.cause !== cause) {
        failing.set(name, { cause, runs: 1, loggedAt: now });
        log.error({ err: error, job: name }, 'maintenance job failed; logged again when its cause changes or it recovers');
      } else {
        streak.runs++;
        if (now - streak.loggedAt >= RELOG_FAILING_MS) {
          streak.loggedAt = now;
          log.error({ job: name, failedRuns: streak.runs, cause: message }, 'maintenance job still failing');
        }
      }
      throw error;
    } finally {
      running.delete(name);
    }
  }

  /**
   * BullMQ's side of the worker: the results consumer, the maintenance queue and its consumer, on one
   * connection. Rebuilt on a fresh connection by the watchdog below.
   */
  function startConsumers(connection: RedisClient) {
    const results = new Worker<ResultJob>(
      RESULTS_QUEUE,
      async (job, _token, signal) => {
        const handler = resultHandlers[job.name as ResultsJobName];
        if (!handler) throw new Error(`no handler for job ${job.name}`);
        return handler(deps, job, signal);
      },
      {
        connection,
        ...bullmq,
        concurrency: options.concurrency ?? resultsConcurrency(deps.config.RESULT_LIMIT),
        // A killed worker's jobs return to the queue once their lock expires; never drop a result for stalling.
        lockDuration: 10_000,
        stalledInterval: 5_000,
        maxStalledCount: 1_000,
      },
    );
    results.on('failed', (job, error) => log.error({ err: error, job_id: job?.id, attempts: job?.attemptsMade }, 'results job failed'));
    const queue = new Queue(MAINTENANCE_QUEUE, { connection, ...bullmq });
    queue.on('error', () => undefined);
    const maintenance = new Worker(
      MAINTENANCE_QUEUE,
      async (job) => {
        if (!isMaintenanceJob(job.name)) throw new Error(`no handler for job ${job.name}`);
        return runMaintenance(job.name);
      },
      {
        connection,
        ...bullmq,
        // Side by side: one slow or failing job never holds up the others.
        concurrency: MAINTENANCE_JOBS.length,
        removeOnComplete: { count: 10 },
        removeOnFail: { count: 100 },
      },
    );
    for (const worker of [results, maintenance]) worker.on('error', (error) => consumerOutage.error(error));
    return {
      results,
      maintenance,
      queue,
      async close(force = false) {
        await Promise.all([results.close(force), maintenance.close(force)]);
        await queue.close();
      },
    };
  }
  let consumers = startConsumers(deps.bullConnection);
  const maintenanceQueue = () => consumers.queue;

  /** Schedules every job that is on; `all`: also those Redis still has (at start, when periods may have changed). */
  async function schedule(all: boolean): Promise<MaintenanceJobName[]> {
    const queue = maintenanceQueue();
    const present = all ? new Set<string>() : new Set((await queue.getJobSchedulers()).map((scheduler) => scheduler.key));
    const scheduled: MaintenanceJobName[] = [];
    for (const name of MAINTENANCE_JOBS) {
      const every = periods[name];
      if (every === null) {
        if (all) await Promise.all([queue.removeJobScheduler(name), deps.dispatch.forgetJob(name)]);
      } else if (!present.has(name)) {
        await queue.upsertJobScheduler(name, { every }, { name });
        scheduled.push(name);
      }
    }
    return scheduled;
  }
  // The last worker started sets the periods.
  await schedule(true);

  const workerId = newWorkerId(hostname(), process.pid, randomBytes(3).toString('hex'));
  /** Since when Redis has answered every heartbeat (null while it does not). */
  let reachableSince: number | null = Date.now();
  let lastBeatAt = Date.now();
  /** When the watchdog first saw the jobs stalled (it acts only if they still are a grace later). */
  let suspectSince: number | null = null;
  let restartedAt = 0;
  let restarts = 0;
  let restarting: Promise<void> | undefined;
  let closing = false;
  let beating: Promise<void> | undefined;
  const watchdogGraceMs = options.watchdogGraceMs ?? WATCHDOG_GRACE_MS;

  /**
   * The watchdog: BullMQ's consumers can stop fetching jobs after a failover and never say so (blocking
   * commands left on a connection to a node that is gone; known BullMQ and ioredis issues). When a
   * maintenance job has stopped running though Redis has answered for a while, this process builds
   * its consumers again on a fresh connection. Several workers may each do it; that is harmless.
   */
  async function watchdog(now: number): Promise<void> {
    if (closing || restarting || reachableSince === null || now - reachableSince < watchdogGraceMs || now - restartedAt < watchdogGraceMs)
      return;
    // Sooner than /readyz calls a job stalled (30 s at least): a monitoring fleet's tasks wait meanwhile.
    const stalled = (await deps.dispatch.jobHealth())
      // Each job's period as its last run recorded it: workers started with other settings may run.
      .filter(
        (health) =>
          periods[health.job as MaintenanceJobName] != null &&
          now - health.lastRunAt > Math.max(watchdogGraceMs, WATCHDOG_PERIODS * health.everyMs),
      )
      .map((health) => health.job);
    if (stalled.length === 0) {
      suspectSince = null;
      return;
    }
    // Seen twice, a grace apart: jobs that only missed their runs while this process itself was not
    // running (suspended, a long pause) run again at once and are not restarted for.
    suspectSince ??= now;
    if (now - suspectSince < watchdogGraceMs) return;
    suspectSince = null;
    if (closing) return;
    restartedAt = now;
    restarts++;
    log.warn(
      { jobs: stalled, restarts },
      'maintenance jobs stopped running while Redis answers: restarting the BullMQ consumers on a new connection',
    );
    const old = consumers;
    consumers = startConsumers(deps.bullConnection.duplicate());
    restarting = (async () => {
      // Forced: a consumer whose blocking command never returns would never finish closing.
      await Promise.race([old.close(true), sleep(5_000)]).catch(() => undefined);
      if (old.results.opts.connection !== deps.bullConnection)
        await (old.results.opts.connection as RedisClient).quit().catch(() => undefined);
    })().finally(() => (restarting = undefined));
  }

  const beat = async () => {
    const now = Date.now();
    // A beat far later than due: this process was not running; what it sees now is not yet news.
    if (now - lastBeatAt > 3 * WORKER_BEAT_MS) reachableSince = null;
    lastBeatAt = now;
    try {
      await deps.dispatch.workerBeat(workerId);
      reachableSince ??= now;
      consumerOutage.recovered();
    } catch (error) {
      reachableSince = null;
      log.debug({ err: error }, 'worker heartbeat failed');
      return;
    }
    const restored = await schedule(false).catch(() => []);
    if (restored.length > 0) log.warn({ jobs: restored }, 'job schedulers were missing from Redis (its data was lost); scheduled again');
    await watchdog(now).catch((error: unknown) => log.debug({ err: error }, 'watchdog check failed'));
  };
  await beat();
  const beats = setInterval(() => {
    beating ??= beat().finally(() => (beating = undefined));
  }, WORKER_BEAT_MS).unref();

  log.info(
    { prefix: bullmq.prefix, worker: workerId, cleanup: periods.cleanup === null ? 'off' : `every ${periods.cleanup / 1000} s` },
    'worker started',
  );

  return {
    restarts: () => restarts,
    pauseConsumersForTest: () => consumers.maintenance.pause(),
    async close() {
      closing = true;
      clearInterval(beats);
      await beating;
      await restarting;
      await consumers.close();
      if (consumers.results.opts.connection !== deps.bullConnection)
        await (consumers.results.opts.connection as RedisClient).quit().catch(() => undefined);
      await deps.dispatch.workerRetired(workerId).catch(() => undefined);
      log.info('worker stopped');
    },
  };
}
