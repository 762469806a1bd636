/**
 * The agent lifecycle of docs/protocol.md, "Agents going silent", run as a repeatable job:
 * - tasks held by agents unseen for AGENT_ACTIVE_THRESHOLD fail with a task_error saying the agent went
 *   silent and since when (a task whose result already arrived is never touched);
 * - agents unseen for AGENT_DROP_THRESHOLD are forgotten, with their capabilities; their tasks stay failed.
 *
 * Its cost follows the agents that went quiet while holding tasks, never the history of finished tasks
 * nor the number of agents that went away: it reads Redis' index of agents holding tasks.
 */
import { deleteAgents, deleteAgentsUnseenSince } from '@afm/shared/db/agents';
import { isoUtc } from '@afm/shared/time';
import type { WorkerDeps } from '../deps.js';
import { runSteps } from '../jobs/steps.js';
import { settleLostClaims } from './lost-claims.js';

const PAGE = 500;

type Deps = Pick<WorkerDeps, 'db' | 'dispatch' | 'config' | 'logger'>;

/** Silent agents' tasks, then forgotten agents: each step runs even when the other fails. */
export const cleanup = (deps: Deps, now = Date.now()) =>
  runSteps({ silentAgents: () => failTasksOfSilentAgents(deps, now), forgottenAgents: () => dropForgottenAgents(deps, now) });

/**
 * Agents holding tasks and last seen before `cutoff`, a page at a time, oldest first. Agents that hold
 * nothing are not in this index, however many went away. Each page leaves the range once handled
 * (failed agents leave the index, agents that polled meanwhile move past the cutoff), so every page is
 * read from the start; the round count bounds it all the same.
 */
async function* holdersUnseenSince(deps: Deps, cutoff: number) {
  const rounds = Math.ceil((await deps.dispatch.countHoldersUnseenSince(cutoff)) / PAGE) + 1;
  for (let round = 0; round < rounds; round++) {
    const page = await deps.dispatch.holdersUnseenSince(cutoff, PAGE);
    if (page.length === 0) return;
    yield page;
  }
}

export async function failTasksOfSilentAgents(deps: Deps, now: number): Promise<number> {
  const threshold = deps.config.AGENT_ACTIVE_THRESHOLD;
  let total = 0;
  for await (const page of holdersUnseenSince(deps, deps.dispatch.activeSince(now))) {
    const candidates = page.map(({ agentId, lastSeen, name }) => {
      const error = `agent went silent: ${JSON.stringify(name)} (${agentId}) was last seen ${isoUtc(lastSeen)}, more than AGENT_ACTIVE_THRESHOLD (${threshold} s) ago`;
      return { agentId, lastSeen, error };
    });
    const lost = await deps.dispatch.failSilentAgents(candidates, now);
    total += await settleLostClaims(deps, lost, now, 'agent_silent', 'its agent went silent');
  }
  return total;
}

export async function dropForgottenAgents(deps: Deps, now: number): Promise<number> {
  const cutoff = now - deps.config.AGENT_DROP_THRESHOLD * 1000;
  const dropped: string[] = [];
  let offset = 0;
  for (;;) {
    const ids = await deps.dispatch.agentsUnseenSince(cutoff, offset, PAGE);
    if (ids.length === 0) break;
    const done = await deps.dispatch.dropAgents(ids, cutoff);
    dropped.push(...done);
    // Dropped agents leave the index; the ones kept (still holding tasks) are stepped over.
    offset += ids.length - done.length;
    if (ids.length < PAGE) break;
  }
  await deleteAgents(deps.db, dropped);
  // Agents Postgres knows but Redis forgot (e.g. after a Redis flush) are forgotten by their last_seen.
  const stale = await deleteAgentsUnseenSince(deps.db, new Date(cutoff));
  const all = new Set([...dropped, ...stale]);
  for (const id of all) deps.logger.info({ event: 'agent.dropped', agent_id: id }, 'agent forgotten');
  return all.size;
}
