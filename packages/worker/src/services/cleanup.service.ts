/**
 * The agent lifecycle of SPEC §3, run as a repeatable job:
 * - tasks held by agents unseen for AGENT_ACTIVE_THRESHOLD fail with a task_error saying the agent went
 *   silent and since when (a task whose result already arrived is never touched);
 * - agents unseen for AGENT_DROP_THRESHOLD are forgotten, with their capabilities; their tasks stay failed.
 *
 * Its cost follows the agents that went quiet while holding tasks, never the history of finished tasks
 * nor the number of agents that went away: it reads Redis' index of agents holding tasks.
 */
import { submitLostClaims, submitResults } from '@afm/shared/dispatch/results';
import type { LostClaim } from '@afm/shared/dispatch/scripts';
import { isoUtc } from '@afm/shared/time';
import type { WorkerDeps } from '../deps.js';

const PAGE = 500;

type Deps = Pick<WorkerDeps, 'db' | 'redis' | 'scripts' | 'results' | 'config' | 'logger'>;

export interface CleanupReport {
  failedTasks: number;
  droppedAgents: number;
}

export async function cleanup(deps: Deps, now = Date.now()): Promise<CleanupReport> {
  const failedTasks = await failTasksOfSilentAgents(deps, now);
  const droppedAgents = await dropForgottenAgents(deps, now);
  return { failedTasks, droppedAgents };
}

/**
 * Agents holding tasks and last seen before `cutoff`, a page at a time, oldest first, with their
 * last-seen times. Agents that hold nothing are not in this index, however many went away. Each page
 * leaves the range once handled (failed agents leave the index, agents that polled meanwhile move past
 * the cutoff), so every page is read from the start; the round count bounds it all the same.
 */
async function* holdersUnseenSince(deps: Deps, cutoff: number): AsyncGenerator<{ agentId: string; lastSeen: number }[]> {
  const rounds = Math.ceil((await deps.redis.zcount(deps.scripts.keys.holders, '-inf', `(${cutoff}`)) / PAGE) + 1;
  for (let round = 0; round < rounds; round++) {
    const flat = await deps.redis.zrangebyscore(deps.scripts.keys.holders, '-inf', `(${cutoff}`, 'WITHSCORES', 'LIMIT', 0, PAGE);
    if (flat.length === 0) return;
    const page = [];
    for (let i = 0; i < flat.length; i += 2) page.push({ agentId: flat[i]!, lastSeen: Number(flat[i + 1]) });
    yield page;
  }
}

export async function failTasksOfSilentAgents(deps: Deps, now: number): Promise<number> {
  const threshold = deps.config.AGENT_ACTIVE_THRESHOLD;
  let total = 0;
  for await (const page of holdersUnseenSince(deps, now - threshold * 1000)) {
    const pipeline = deps.redis.pipeline();
    for (const { agentId } of page) pipeline.hget(deps.scripts.keys.agent(agentId), 'name');
    const names = (await pipeline.exec()) ?? [];
    const candidates = page.map(({ agentId, lastSeen }, index) => {
      const name = (names[index]?.[1] as string | null) ?? 'unknown';
      const error = `agent went silent: ${JSON.stringify(name)} (${agentId}) was last seen ${isoUtc(lastSeen)}, more than AGENT_ACTIVE_THRESHOLD (${threshold} s) ago`;
      return { agentId, lastSeen, error };
    });
    const lost = await deps.scripts.failSilentAgents(candidates, now);
    total += await settleLostClaims(deps, lost, now, 'its agent went silent');
  }
  return total;
}

/**
 * Claims lost to silence or a timeout: queues the failures for Postgres and wakes a poll for each task
 * that went back to its queue. Returns how many failed.
 */
export async function settleLostClaims(deps: Deps, lost: LostClaim[], now: number, why: string): Promise<number> {
  try {
    await submitLostClaims(deps.results, lost, now);
  } catch (error) {
    // The failures are accepted in Redis already; sync queues them again.
    deps.logger.warn({ err: error }, 'failed tasks not queued yet; sync will queue them');
  }
  for (const { taskId, agentId, error, attempts } of lost) {
    if (error === null) {
      deps.logger.info({ event: 'task.retried', task_id: taskId, agent_id: agentId, attempts }, `task back in its queue: ${why}`);
    } else {
      deps.logger.info({ event: 'task.expired', task_id: taskId, agent_id: agentId }, `task failed: ${why}`);
    }
  }
  const retried = lost.filter((claim) => claim.error === null);
  if (retried.length > 0) await wakeFor(deps, retried.map((claim) => claim.taskId));
  return lost.length - retried.length;
}

/** Wakes a long poll for each of these tasks, back in their queues. */
async function wakeFor(deps: Deps, taskIds: string[]): Promise<void> {
  const pipeline = deps.redis.pipeline();
  for (const id of taskIds) pipeline.hget(deps.scripts.keys.task(id), 'queue');
  const queues = ((await pipeline.exec()) ?? []).map(([, queue]) => queue as string | null);
  await Promise.all(queues.map((queue) => (queue ? deps.scripts.wakeOne(queue) : undefined)));
}

/** Tasks whose task_ttl or task_timeout ended (run by the sync job, every second). */
export async function enforceDeadlines(deps: Deps, now = Date.now()): Promise<{ expired: number; timedOut: number }> {
  const expired = await deps.scripts.expireTasks(now, PAGE);
  if (expired.length > 0) {
    await submitResults(
      deps.results,
      expired.map(({ taskId, error }) => ({ task_id: taskId, outcome: { state: 'failed' as const, error }, finished_at: now, agent_id: null, claimed_at: null })),
    );
    for (const { taskId } of expired) deps.logger.info({ event: 'task.expired', task_id: taskId }, 'task failed: not claimed within its task_ttl');
  }
  const timedOut = await settleLostClaims(deps, await deps.scripts.timeoutTasks(now, PAGE), now, 'no result within its task_timeout');
  return { expired: expired.length, timedOut };
}

export async function dropForgottenAgents(deps: Deps, now: number): Promise<number> {
  const cutoff = now - deps.config.AGENT_DROP_THRESHOLD * 1000;
  const dropped: string[] = [];
  let offset = 0;
  for (;;) {
    const ids = await deps.redis.zrangebyscore(deps.scripts.keys.agentsSeen, '-inf', `(${cutoff}`, 'LIMIT', offset, PAGE);
    if (ids.length === 0) break;
    const done = await deps.scripts.dropAgents(ids, cutoff);
    dropped.push(...done);
    // Dropped agents leave the index; the ones kept (still holding tasks) are stepped over.
    offset += ids.length - done.length;
    if (ids.length < PAGE) break;
  }
  if (dropped.length > 0) {
    await deps.db.deleteFrom('agents').where('id', 'in', dropped).execute();
  }
  // Agents Postgres knows but Redis forgot (e.g. after a Redis flush) are forgotten by their last_seen.
  const stale = await deps.db.deleteFrom('agents').where('last_seen', '<', new Date(cutoff)).returning('id').execute();
  const all = new Set([...dropped, ...stale.map((row) => row.id)]);
  for (const id of all) deps.logger.info({ event: 'agent.dropped', agent_id: id }, 'agent forgotten');
  return all.size;
}
