/**
 * The worker process: consumes the `results` queue into Postgres and runs the repeatable maintenance
 * jobs (sync of Redis hot state, later cleanup) on BullMQ job schedulers — one schedule however many
 * workers run. Each job name maps to one handler; boot fails if one is missing.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import { WORKER_BEAT_MS, workerBeat, workerRetired } from '@afm/shared/ops/workers';
import { MAINTENANCE_QUEUE, RESULTS_QUEUE, type MaintenanceJobName, type ResultJob, type ResultsJobName } from '@afm/shared/queues';
import type { WorkerDeps } from './deps.js';
import { recordResult } from './services/results.service.js';
import { cleanup } from './services/cleanup.service.js';
import { sync } from './services/sync.service.js';

export interface WorkerOptions {
  /** Results jobs in progress at once (default 200): they share batched Postgres writes, so many at once make large batches. */
  concurrency?: number;
  /** Period of the sync job in ms (default 1000). */
  syncEveryMs?: number;
}

export interface RunningWorker {
  /** Finishes (or safely returns) current jobs, then stops. Does not close `deps`. */
  close(): Promise<void>;
}

const resultHandlers: Record<ResultsJobName, (deps: WorkerDeps, job: Job<ResultJob>, signal?: AbortSignal) => Promise<unknown>> = {
  result: (deps, job, signal) => recordResult(deps, job.data, signal),
};

const maintenanceHandlers: Record<MaintenanceJobName, (deps: WorkerDeps) => Promise<unknown>> = {
  sync: (deps) => sync(deps),
  cleanup: (deps) => cleanup(deps),
};

function handlerFor<H>(handlers: Record<string, H>, name: string): H {
  const handler = handlers[name];
  if (!handler) throw new Error(`no handler for job ${name}`);
  return handler;
}

export async function startWorker(deps: WorkerDeps, options: WorkerOptions = {}): Promise<RunningWorker> {
  const prefix = deps.config.QUEUE_PREFIX;
  const connection = deps.bullConnection;
  const log = deps.logger;

  const results = new Worker<ResultJob>(
    RESULTS_QUEUE,
    async (job, _token, signal) => handlerFor(resultHandlers, job.name)(deps, job, signal),
    {
      connection,
      prefix,
      concurrency: options.concurrency ?? 200,
      // A killed worker's jobs return to the queue once their lock expires; never drop a result for stalling.
      lockDuration: 10_000,
      stalledInterval: 5_000,
      maxStalledCount: 1_000,
      skipVersionCheck: true,
    },
  );

  const maintenanceQueue = new Queue(MAINTENANCE_QUEUE, { connection: deps.bullConnection, prefix, skipVersionCheck: true });
  maintenanceQueue.on('error', () => undefined);
  const maintenance = new Worker(
    MAINTENANCE_QUEUE,
    async (job) => handlerFor(maintenanceHandlers, job.name)(deps),
    {
      connection,
      prefix,
      concurrency: 1,
      skipVersionCheck: true,
      removeOnComplete: { count: 10 },
      removeOnFail: { count: 100 },
    },
  );

  for (const worker of [results, maintenance]) {
    worker.on('error', (error) => log.warn({ err: error, queue: worker.name }, 'worker connection error'));
    worker.on('failed', (job, error) =>
      log.error({ err: error, queue: worker.name, job: job?.name, job_id: job?.id, attempts: job?.attemptsMade }, 'job failed'),
    );
  }

  // Schedulers live in Redis: one schedule however many workers run; the last worker started sets it.
  await maintenanceQueue.upsertJobScheduler('sync', { every: options.syncEveryMs ?? 1_000 }, { name: 'sync' });
  if (deps.config.AUTO_CLEANUP) {
    await maintenanceQueue.upsertJobScheduler('cleanup', { every: deps.config.CLEANUP_INTERVAL * 1000 }, { name: 'cleanup' });
  } else {
    await maintenanceQueue.removeJobScheduler('cleanup');
  }
  const workerId = `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
  const beat = () => workerBeat(deps.redis, deps.scripts.keys, workerId).catch((error: unknown) => log.debug({ err: error }, 'worker heartbeat failed'));
  await beat();
  const beating = setInterval(beat, WORKER_BEAT_MS).unref();

  log.info({ prefix, worker: workerId, cleanup: deps.config.AUTO_CLEANUP ? `every ${deps.config.CLEANUP_INTERVAL} s` : 'off' }, 'worker started');

  return {
    async close() {
      clearInterval(beating);
      await Promise.all([results.close(), maintenance.close()]);
      await maintenanceQueue.close();
      await workerRetired(deps.redis, deps.scripts.keys, workerId).catch(() => undefined);
      log.info('worker stopped');
    },
  };
}
