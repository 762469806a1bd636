/**
 * The worker's repeatable jobs, one entry per job name (a missing or unknown name does not compile):
 * what each runs and how often. Each is a BullMQ job scheduler, so it runs once per period however
 * many workers there are.
 */
import type { MaintenanceJobName } from '@afm/shared/queues';
import type { WorkerDeps } from '../deps.js';
import { cleanup } from '../services/cleanup.service.js';
import { deadlines } from '../services/deadlines.service.js';
import { reconcile } from '../services/reconcile.service.js';
import { HISTORY_STEP_MS } from '@afm/shared/history/samples';
import { sampleHistory } from '../services/history.service.js';
import { RETENTION_EVERY_MS, enforceRetention } from '../services/retention.service.js';
import { sync } from '../services/sync.service.js';

/** Timings a test may shorten (WorkerOptions). */
export interface JobOptions {
  syncEveryMs?: number;
  reconcileGraceMs?: number;
  historyEveryMs?: number;
}

export interface MaintenanceJob {
  /** Period in ms, or null when the job is turned off. */
  everyMs(deps: WorkerDeps, options: JobOptions): number | null;
  run(deps: WorkerDeps, options: JobOptions): Promise<unknown>;
}

/**
 * Sync, reconcile and deadlines run every second by default; cleanup every CLEANUP_INTERVAL; retention,
 * when on, every 10 s; history every 10 s (HISTORY_STEP_MS).
 */
const EVERY_SECOND = 1_000;

export const MAINTENANCE_JOB_TABLE: Record<MaintenanceJobName, MaintenanceJob> = {
  sync: { everyMs: (_deps, options) => options.syncEveryMs ?? EVERY_SECOND, run: (deps) => sync(deps) },
  reconcile: {
    everyMs: (_deps, options) => options.syncEveryMs ?? EVERY_SECOND,
    run: (deps, options) => reconcile(deps, Date.now(), options.reconcileGraceMs),
  },
  deadlines: { everyMs: (_deps, options) => options.syncEveryMs ?? EVERY_SECOND, run: (deps) => deadlines(deps) },
  cleanup: { everyMs: (deps) => (deps.config.AUTO_CLEANUP ? deps.config.CLEANUP_INTERVAL * 1000 : null), run: (deps) => cleanup(deps) },
  retention: { everyMs: (deps) => (deps.config.TASK_RETENTION ? RETENTION_EVERY_MS : null), run: (deps) => enforceRetention(deps) },
  history: { everyMs: (_deps, options) => options.historyEveryMs ?? HISTORY_STEP_MS, run: (deps) => sampleHistory(deps) },
};
