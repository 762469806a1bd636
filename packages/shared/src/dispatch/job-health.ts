/**
 * Health of the worker's repeatable jobs, kept in Redis by the workers that run them, so every replica
 * can report it (`/readyz`, metrics): when each job last ran and succeeded, how many runs in a row
 * failed and why. A job that keeps failing, or stopped running, is otherwise silent — its work (claims
 * written to Postgres, tasks requeued, silent agents failed) just stops happening.
 */
import type { RedisClient } from '../redis.js';
import type { DispatchKeys } from './keys.js';

/** Failed runs in a row after which a job counts as failing (one failure may be a passing fault). */
export const FAILING_AFTER = 3;
/** A job not run for this many periods (and at least STALLED_MIN_MS) has stopped running. */
const STALLED_PERIODS = 5;
const STALLED_MIN_MS = 30_000;

export interface JobHealth {
  job: string;
  /** The job's period when it last ran (ms). */
  everyMs: number;
  lastRunAt: number;
  lastOkAt: number | null;
  /** Failed runs in a row (0 after a success). */
  failures: number;
  failingSince: number | null;
  /** The cause of the last failure, while failing. */
  error: string | null;
}

export type JobState = 'ok' | 'failing' | 'stalled';

type Keys = Pick<DispatchKeys, 'jobs' | 'jobRuns'>;

/** Records one run of a job: `error` when it failed. Returns the job's health after it. */
export async function recordJobRun(
  redis: RedisClient,
  keys: Keys,
  job: string,
  everyMs: number,
  error: string | null,
  now = Date.now(),
): Promise<JobHealth> {
  const before = parse(job, await redis.hget(keys.jobs, job));
  const health: JobHealth =
    error === null
      ? { job, everyMs, lastRunAt: now, lastOkAt: now, failures: 0, failingSince: null, error: null }
      : {
          job,
          everyMs,
          lastRunAt: now,
          lastOkAt: before?.lastOkAt ?? null,
          failures: (before?.failures ?? 0) + 1,
          failingSince: before?.failingSince ?? now,
          error,
        };
  await redis
    .multi()
    .hset(keys.jobs, job, JSON.stringify(health))
    .hincrby(keys.jobRuns, `${job}:${error === null ? 'ok' : 'failed'}`, 1)
    .exec();
  return health;
}

/** A run skipped because the previous one is still going: the job runs, it is not stalled. */
export async function touchJob(redis: RedisClient, keys: Keys, job: string, now = Date.now()): Promise<void> {
  const health = parse(job, await redis.hget(keys.jobs, job));
  if (health) await redis.hset(keys.jobs, job, JSON.stringify({ ...health, lastRunAt: now }));
}

/** Forgets a job that no longer runs (cleanup with AUTO_CLEANUP off). */
export async function forgetJob(redis: RedisClient, keys: Keys, job: string): Promise<void> {
  await redis.hdel(keys.jobs, job);
}

export async function readJobHealth(redis: RedisClient, keys: Keys): Promise<JobHealth[]> {
  const all = await redis.hgetall(keys.jobs);
  return Object.entries(all)
    .map(([job, text]) => parse(job, text))
    .filter((health): health is JobHealth => health !== undefined)
    .sort((a, b) => a.job.localeCompare(b.job));
}

/** Runs per job and outcome, as counted by the workers. */
export async function readJobRuns(redis: RedisClient, keys: Keys): Promise<{ job: string; outcome: 'ok' | 'failed'; runs: number }[]> {
  const all = await redis.hgetall(keys.jobRuns);
  return Object.entries(all).flatMap(([field, runs]) => {
    const [job, outcome] = field.split(':');
    return job && (outcome === 'ok' || outcome === 'failed') ? [{ job, outcome, runs: Number(runs) }] : [];
  });
}

export function jobState(health: JobHealth, now = Date.now()): JobState {
  if (now - health.lastRunAt > Math.max(STALLED_MIN_MS, STALLED_PERIODS * health.everyMs)) return 'stalled';
  return health.failures >= FAILING_AFTER ? 'failing' : 'ok';
}

/** One line for an operator, e.g. `failing since 2026-12-01T10:00:00.000Z (172 runs): bind message …`. */
export function describeJob(health: JobHealth, now = Date.now()): string {
  const state = jobState(health, now);
  if (state === 'stalled') return `stalled: not run since ${new Date(health.lastRunAt).toISOString()}`;
  if (state === 'failing')
    return `failing since ${new Date(health.failingSince ?? health.lastRunAt).toISOString()} (${health.failures} runs): ${health.error}`;
  return 'ok';
}

function parse(job: string, text: string | null | undefined): JobHealth | undefined {
  if (!text) return undefined;
  try {
    return { ...(JSON.parse(text) as JobHealth), job };
  } catch {
    return undefined;
  }
}
