/** The fleet as metrics see it, read from Redis and Postgres (never from this process's memory). */
import { activeAgentsPerCapability } from '@afm/shared/db/agent-capabilities';
import { listQueues } from '@afm/shared/ops/queues';
import type { ApiDeps } from '../deps.js';
import type { FleetSnapshot } from '../metrics.js';
import { guard } from './storage.js';

export async function readFleet(deps: Pick<ApiDeps, 'db' | 'dispatch'>, now = Date.now()): Promise<FleetSnapshot> {
  const { dispatch } = deps;
  const [queues, agentsActive, workers, jobs, jobRuns, agentsPerCapability] = await Promise.all([
    guard('Redis', () => listQueues(deps, now)),
    guard('Redis', () => dispatch.countActiveAgents(now)),
    guard('Redis', () => dispatch.liveWorkers(now)),
    guard('Redis', () => dispatch.jobHealth()),
    guard('Redis', () => dispatch.jobRuns()),
    guard('Postgres', () => activeAgentsPerCapability(deps.db, new Date(dispatch.activeSince(now)))),
  ]);
  return { queues, agentsActive, workers, jobs, jobRuns, agentsPerCapability };
}
