/**
 * Agents as an operator sees them (SPEC §3): registry rows from Postgres with capabilities and task
 * counts, liveness from Redis' last-seen index, and dropping an agent by hand.
 */
import { sql, type Selectable } from 'kysely';
import type { AgentTable } from '../db/schema.js';
import { submitLostClaims } from '../dispatch/results.js';
import { AfmError } from '../errors.js';
import { isoUtc } from '../time.js';
import { decodeCursor, encodeCursor, type Page } from './cursor.js';
import type { OpsDeps } from './deps.js';

/** An agent's registry row, with what the operator needs besides. */
export interface AgentSummary extends Selectable<AgentTable> {
  active: boolean;
  capabilities: { task_type: string; task_version: number }[];
  tasks: { assigned: number; completed: number; failed: number };
}

type Deps = Pick<OpsDeps, 'db' | 'redis' | 'scripts' | 'config'>;

/** Agents, most recently seen first, a page at a time. */
export async function listAgents(
  deps: Deps,
  { active }: { active?: boolean } = {},
  { limit = 1000, cursor }: { limit?: number; cursor?: string } = {},
  now = Date.now(),
): Promise<Page<AgentSummary>> {
  const since = new Date(now - deps.config.AGENT_ACTIVE_THRESHOLD * 1000);
  let query = deps.db.selectFrom('agents').selectAll();
  if (active === true) query = query.where('last_seen', '>=', since);
  if (active === false) query = query.where('last_seen', '<', since);
  if (cursor) {
    const after = decodeCursor(cursor);
    query = query.where(sql<boolean>`(last_seen, id) < (${after.at}, ${after.id}::uuid)`);
  }
  const rows = await query.orderBy('last_seen', 'desc').orderBy('id', 'desc').limit(limit + 1).execute();
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: await describeAgents(deps, page, now),
    next_cursor: rows.length > limit && last ? encodeCursor(last.last_seen, last.id) : null,
  };
}

export async function showAgent(deps: Deps, id: string, now = Date.now()): Promise<AgentSummary & { held: string[] }> {
  const agent = await deps.db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
  if (!agent) throw new AfmError('AFM_ERR_AGENT_NOT_FOUND', `no agent with id ${id}`);
  const [[summary], held] = await Promise.all([describeAgents(deps, [agent], now), deps.redis.smembers(deps.scripts.keys.held(id))]);
  return { ...summary!, held: held.sort() };
}

async function describeAgents(deps: Deps, agents: Omit<AgentSummary, 'active' | 'capabilities' | 'tasks'>[], now: number): Promise<AgentSummary[]> {
  if (agents.length === 0) return [];
  const ids = agents.map((agent) => agent.id);
  const [capabilities, counts, scores] = await Promise.all([
    deps.db.selectFrom('agent_capabilities').selectAll().where('agent_id', 'in', ids).orderBy('task_type').execute(),
    deps.db
      .selectFrom('tasks')
      .select((eb) => [
        'agent_id',
        eb.fn.countAll<number>().filterWhere('state', '=', 'claimed').as('assigned'),
        eb.fn.countAll<number>().filterWhere('state', '=', 'completed').as('completed'),
        eb.fn.countAll<number>().filterWhere('state', '=', 'failed').as('failed'),
      ])
      .where('agent_id', 'in', ids)
      .groupBy('agent_id')
      .execute(),
    deps.redis.zmscore(deps.scripts.keys.agentsSeen, ...ids),
  ]);
  const threshold = now - deps.config.AGENT_ACTIVE_THRESHOLD * 1000;
  return agents.map((agent, index) => {
    // Redis has the freshest last-seen time; Postgres follows within a second.
    const seen = Math.max(agent.last_seen.getTime(), Number(scores[index] ?? 0));
    const count = counts.find((row) => row.agent_id === agent.id);
    return {
      ...agent,
      last_seen: new Date(seen),
      active: seen >= threshold,
      capabilities: capabilities
        .filter((capability) => capability.agent_id === agent.id)
        .map(({ task_type, task_version }) => ({ task_type, task_version })),
      tasks: { assigned: Number(count?.assigned ?? 0), completed: Number(count?.completed ?? 0), failed: Number(count?.failed ?? 0) },
    };
  });
}

/**
 * Forgets an agent now: the tasks it holds fail as a silent agent's would (its late results are
 * refused), then it is removed from Redis and Postgres. It registers again if it ever polls.
 */
export async function dropAgent(deps: Deps & Pick<OpsDeps, 'results'>, id: string, now = Date.now()): Promise<{ failedTasks: number }> {
  const [row, score] = await Promise.all([
    deps.db.selectFrom('agents').select('id').where('id', '=', id).executeTakeFirst(),
    deps.redis.zscore(deps.scripts.keys.agentsSeen, id),
  ]);
  if (!row && score === null) throw new AfmError('AFM_ERR_AGENT_NOT_FOUND', `no agent with id ${id}`);
  let failed: Awaited<ReturnType<typeof deps.scripts.failSilentAgents>> = [];
  if (score !== null) {
    const error = `agent dropped by an operator at ${isoUtc(now)} (last seen ${isoUtc(Number(score))})`;
    failed = await deps.scripts.failSilentAgents([{ agentId: id, lastSeen: Number(score), error }], now);
    await submitLostClaims(deps.results, failed, now);
    await deps.scripts.dropAgents([id], Number.MAX_SAFE_INTEGER);
  }
  await deps.db.deleteFrom('agents').where('id', '=', id).execute();
  return { failedTasks: failed.filter((task) => task.error !== null).length };
}
