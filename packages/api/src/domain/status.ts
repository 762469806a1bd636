/** docs/protocol.md — health: counts that prove both Redis and Postgres answer. */
import { ping } from '@afm/shared/db/connect';
import type { StatusResponse } from '@afm/shared/protocol';
import type { ApiDeps } from '../deps.js';
import { guard } from './storage.js';

export async function getStatus(deps: Pick<ApiDeps, 'db' | 'dispatch'>): Promise<StatusResponse> {
  const [agents, tasksWaiting] = await Promise.all([
    guard('Redis', () => deps.dispatch.countActiveAgents()),
    guard('Redis', () => deps.dispatch.countWaiting()),
    guard('Postgres', () => ping(deps.db)),
  ]);
  return { agents, tasks_waiting: tasksWaiting };
}
