/** Liveness and readiness: is each store reachable right now? */
import { ping } from '@afm/shared/db/connect';
import { describeJob, jobState } from '@afm/shared/dispatch/job-health';
import type { ApiDeps } from '../deps.js';

export interface Readiness {
  ready: boolean;
  redis: string;
  postgres: string;
  /** Worker processes that beat lately; informational — replicas serve (and results wait) without one. Null when Redis does not answer. */
  workers: number | null;
  /** The worker's maintenance jobs: "ok", or what is wrong with one ("failing since …", "stalled: …"). */
  jobs: Record<string, string>;
  /** Some maintenance job is failing or stalled: the replica serves, but the fleet's upkeep is not done. */
  degraded: boolean;
}

const CHECK_TIMEOUT_MS = 2_000;

async function check(probe: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${CHECK_TIMEOUT_MS} ms`)), CHECK_TIMEOUT_MS);
      }),
    ]);
    return 'ok';
  } catch (error) {
    return `unreachable: ${(error as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export async function readiness(deps: Pick<ApiDeps, 'db' | 'dispatch'>, now = Date.now()): Promise<Readiness> {
  let workers: number | null = null;
  let jobs: Record<string, string> = {};
  let degraded = false;
  const [redis, postgres] = await Promise.all([
    check(async () => {
      const [live, health] = await Promise.all([deps.dispatch.liveWorkers(now), deps.dispatch.jobHealth()]);
      workers = live;
      jobs = Object.fromEntries(health.map((job) => [job.job, describeJob(job, now)]));
      degraded = health.some((job) => jobState(job, now) !== 'ok');
    }),
    check(() => ping(deps.db)),
  ]);
  const redisOk = redis === 'ok';
  return {
    ready: redisOk && postgres === 'ok',
    redis,
    postgres,
    workers: redisOk ? workers : null,
    jobs: redisOk ? jobs : {},
    degraded: redisOk && degraded,
  };
}
