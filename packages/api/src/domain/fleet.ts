/** The fleet as metrics see it, read from Redis and Postgres (never from this process's memory). */
import { readJobHealth, readJobRuns } from '@afm/shared/ops/jobs';
import { listQueues } from '@afm/shared/ops/queues';
import { liveWorkers } from '@afm/shared/ops/workers';
import type { ApiDeps } from '../deps.js';
import type { FleetSnapshot } from '../metrics.js';
import { guard } from './storage.js';

export async function readFleet(deps: Pick<ApiDeps, 'db' | 'redis' | 'scripts' | 'taskQueues' | 'config'>, now = Date.now()): Promise<FleetSnapshot> {
  const since = now - deps.config.AGENT_ACTIVE_THRESHOLD * 1000;
  const [queues, agentsActive, workers, jobs, jobRuns, agentsPerCapability] = await Promise.all([
    guard('Redis', () => listQueues(deps, now)),
    guard('Redis', () => deps.redis.zcount(deps.scripts.keys.agentsSeen, since, '+inf')),
    guard('Redis', () => liveWorkers(deps.redis, deps.scripts.keys, now)),
    guard('Redis', () => readJobHealth(deps.redis, deps.scripts.keys)),
    guard('Redis', () => readJobRuns(deps.redis, deps.scripts.keys)),
    guard('Postgres', () =>
      deps.db
        .selectFrom('agent_capabilities as c')
        .innerJoin('agents as a', 'a.id', 'c.agent_id')
        .select((eb) => ['c.task_type', 'c.task_version', eb.fn.countAll<number>().as('agents')])
        .where('a.last_seen', '>=', new Date(since))
        .groupBy(['c.task_type', 'c.task_version'])
        .execute(),
    ),
  ]);
  return { queues, agentsActive, workers, jobs, jobRuns, agentsPerCapability: agentsPerCapability.map((row) => ({ ...row, agents: Number(row.agents) })) };
}
