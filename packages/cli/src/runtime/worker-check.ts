/**
 * `slamon-afm worker --check`: a container healthcheck for a worker (README, Deployment). Workers beat
 * into Redis every 2 s with ids that start with their host name; the check passes while a worker of
 * this deployment (QUEUE_PREFIX) on this host — a container's or pod's own host name — beat within
 * WORKER_STALE_MS, or any worker of the deployment with `any`. It reads Redis only: a worker waiting
 * out a Postgres outage is alive.
 */
import { hostname } from 'node:os';
import { describeRedis, type Config } from '@afm/shared/config';
import { dispatchKeys } from '@afm/shared/dispatch/keys';
import { liveWorkerList, WORKER_STALE_MS, workerHost, type LiveWorker } from '@afm/shared/dispatch/workers';
import { connectRedis, createRedis } from '@afm/shared/redis';

export type WorkerCheck = { ok: true; worker: LiveWorker; host: string | null } | { ok: false; message: string };

export async function checkWorker(config: Config, { any = false, host = hostname() } = {}): Promise<WorkerCheck> {
  const redis = createRedis(config, 'client', 'afm-worker-check', { reconnect: false });
  // The cause (refused, unknown host, auth), not ioredis' "Connection is closed" that follows it.
  let cause: unknown;
  redis.on('error', (error) => (cause ??= error));
  try {
    let workers: LiveWorker[];
    try {
      await connectRedis(redis);
      workers = await liveWorkerList(redis, dispatchKeys(config.QUEUE_PREFIX));
    } catch (error) {
      return { ok: false, message: `cannot reach Redis, ${describeRedis(config)}: ${oneLine(cause ?? error)}` };
    }
    const mine = any ? workers : workers.filter((worker) => workerHost(worker.id) === host);
    if (mine[0]) return { ok: true, worker: mine[0], host: any ? null : host };
    const where = any ? '' : ` on host ${host}`;
    const others = any || workers.length === 0 ? '' : ` (${workers.length} on other hosts)`;
    return {
      ok: false,
      message: `no worker of QUEUE_PREFIX ${config.QUEUE_PREFIX}${where} sent a heartbeat in the last ${WORKER_STALE_MS / 1000} s${others}`,
    };
  } finally {
    redis.disconnect();
  }
}

const oneLine = (error: unknown) => ((error as Error)?.message ?? String(error)).replace(/\s+/g, ' ');
