/**
 * Agents as an operator sees them: registry rows from Postgres with capabilities and task counts,
 * liveness from Redis' last-seen index, and dropping an agent by hand.
 */
import type { Selectable } from 'kysely';
import { capabilitiesOf } from '../db/agent-capabilities.js';
import { deleteAgents, findAgent, listAgentRows } from '../db/agents.js';
import type { AgentTable } from '../db/schema.js';
import { countTasksByAgent } from '../db/tasks.js';
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

type Deps = Pick<OpsDeps, 'db' | 'dispatch'>;

/** Agents, most recently seen first, a page at a time. */
export async function listAgents(
  deps: Deps,
  { active }: { active?: boolean } = {},
  { limit = 1000, cursor }: { limit?: number; cursor?: string } = {},
  now = Date.now(),
): Promise<Page<AgentSummary>> {
  const rows = await listAgentRows(deps.db, {
    ...(active === undefined ? {} : { active }),
    activeSince: new Date(deps.dispatch.activeSince(now)),
    ...(cursor ? { after: decodeCursor(cursor) } : {}),
    limit: limit + 1,
  });
  const page = rows.slice(0, limit);
  const last = page[page.length - 1];
  return {
    items: await describeAgents(deps, page, now),
    next_cursor: rows.length > limit && last ? encodeCursor(last.last_seen, last.id) : null,
  };
}

export async function showAgent(deps: Deps, id: string, now = Date.now()): Promise<AgentSummary & { held: string[] }> {
  const agent = await findAgent(deps.db, id);
  if (!agent) throw new AfmError('AFM_ERR_AGENT_NOT_FOUND', `no agent with id ${id}`);
  const [[summary], held] = await Promise.all([describeAgents(deps, [agent], now), deps.dispatch.heldBy(id)]);
  return { ...summary!, held };
}

async function describeAgents(
  deps: Deps,
  agents: Omit<AgentSummary, 'active' | 'capabilities' | 'tasks'>[],
  now: number,
): Promise<AgentSummary[]> {
  if (agents.length === 0) return [];
  const ids = agents.map((agent) => agent.id);
  const [capabilities, counts, seen] = await Promise.all([
    capabilitiesOf(deps.db, ids),
    countTasksByAgent(deps.db, ids),
    deps.dispatch.lastSeen(ids),
  ]);
  const since = deps.dispatch.activeSince(now);
  return agents.map((agent, index) => {
    // Redis has the freshest last-seen time; Postgres follows within a second.
    const lastSeen = Math.max(agent.last_seen.getTime(), seen[index] ?? 0);
    return {
      ...agent,
      last_seen: new Date(lastSeen),
      active: lastSeen >= since,
      capabilities: capabilities
        .filter((capability) => capability.agent_id === agent.id)
        .map(({ task_type, task_version }) => ({ task_type, task_version })),
      tasks: counts.get(agent.id) ?? { assigned: 0, completed: 0, failed: 0 },
    };
  });
}

/**
 * Forgets an agent now: the tasks it holds fail as a silent agent's would (its late results are
 * refused), then it is removed from Redis and Postgres. It registers again if it ever polls.
 */
export async function dropAgent(deps: Deps, id: string, now = Date.now()): Promise<{ failedTasks: number }> {
  const [row, [seen]] = await Promise.all([findAgent(deps.db, id), deps.dispatch.lastSeen([id])]);
  if (!row && (seen === null || seen === undefined)) throw new AfmError('AFM_ERR_AGENT_NOT_FOUND', `no agent with id ${id}`);
  let failed = 0;
  if (seen !== null && seen !== undefined) {
    const error = `agent dropped by an operator at ${isoUtc(now)} (last seen ${isoUtc(seen)})`;
    const lost = await deps.dispatch.failSilentAgents([{ agentId: id, lastSeen: seen, error }], now);
    await deps.dispatch.submitLostClaims(lost, now, 'agent_silent');
    await deps.dispatch.dropAgents([id], Number.MAX_SAFE_INTEGER);
    failed = lost.filter((task) => task.error !== null).length;
  }
  await deleteAgents(deps.db, [id]);
  return { failedTasks: failed };
}
