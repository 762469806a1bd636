/** SPEC §2.5 — health: counts that prove both Redis and Postgres answer. */
import { sql } from 'kysely';
import type { StatusResponse } from '@afm/shared/protocol';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

export async function getStatus(deps: Pick<ApiDeps, 'db' | 'redis' | 'scripts' | 'config'>): Promise<StatusResponse> {
  const activeSince = Date.now() - deps.config.AGENT_ACTIVE_THRESHOLD * 1000;
  const [agents, tasksWaiting] = await Promise.all([
    guard('Redis', () => deps.redis.zcount(deps.scripts.keys.agentsSeen, activeSince, '+inf')),
    guard('Redis', () => deps.scripts.countWaiting()),
    guard('Postgres', () => sql`select 1`.execute(deps.db)),
  ]);
  return { agents, tasks_waiting: tasksWaiting };
}
