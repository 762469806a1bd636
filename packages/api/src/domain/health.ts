/** Liveness and readiness: is each store reachable right now? */
import { sql } from 'kysely';
import { liveWorkers } from '@afm/shared/ops/workers';
import type { ApiDeps } from '../deps.js';

export interface Readiness {
  ready: boolean;
  redis: string;
  postgres: string;
  /** Worker processes that beat lately; informational — replicas serve (and results wait) without one. Null when Redis does not answer. */
  workers: number | null;
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

export async function readiness(deps: Pick<ApiDeps, 'db' | 'redis' | 'scripts'>): Promise<Readiness> {
  let workers: number | null = null;
  const [redis, postgres] = await Promise.all([
    check(async () => (workers = await liveWorkers(deps.redis, deps.scripts.keys))),
    check(() => sql`select 1`.execute(deps.db)),
  ]);
  return { ready: redis === 'ok' && postgres === 'ok', redis, postgres, workers: redis === 'ok' ? workers : null };
}
