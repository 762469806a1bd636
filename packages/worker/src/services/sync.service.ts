/**
 * The `sync` job: Postgres (the system of record) catches up with the hot state that polls leave in
 * Redis — claims → tasks.state/agent_id/claimed_at, agents seen → agents and agent_capabilities.
 */
import { recordClaims, type ClaimRecord } from '@afm/shared/db/tasks';
import { upsertAgents, type AgentRecord } from '@afm/shared/db/agents';
import type { AgentLocation } from '@afm/shared/protocol';
import type { WorkerDeps } from '../deps.js';
import { runSteps } from '../jobs/steps.js';

const BATCH = 1_000;

type Deps = Pick<WorkerDeps, 'db' | 'redis' | 'scripts'>;

/** Claims, then agents: each step runs even when the other fails. */
export const sync = (deps: Deps) => runSteps({ claims: () => syncClaims(deps), agents: () => syncAgents(deps) });

/** Claims recorded by polls in Redis → Postgres. */
export async function syncClaims(deps: Deps): Promise<number> {
  const { redis, scripts } = deps;
  let total = 0;
  for (;;) {
    const flat = await redis.zrange(scripts.keys.claimsDirty, 0, BATCH - 1, 'WITHSCORES');
    if (flat.length === 0) return total;
    const dirty: { taskId: string; score: string }[] = [];
    for (let i = 0; i < flat.length; i += 2) dirty.push({ taskId: flat[i]!, score: flat[i + 1]! });
    const ids = dirty.map((claim) => claim.taskId);
    const pipeline = redis.pipeline();
    for (const id of ids) pipeline.hmget(scripts.keys.task(id), 'state', 'agent', 'claimed_at', 'attempts');
    const replies = (await pipeline.exec()) ?? [];
    const records: ClaimRecord[] = [];
    ids.forEach((id, index) => {
      const [state, agent, claimedAt, attempts] = (replies[index]?.[1] ?? []) as (string | null)[];
      // A task already answered gets its claim written with its outcome: one update instead of two.
      if (state === 'claimed' && agent && claimedAt) {
        records.push({ task_id: id, agent_id: agent, claimed_at: Number(claimedAt), attempts: Number(attempts ?? 1) });
      }
    });
    total += await recordClaims(deps.db, records);
    await scripts.forgetSyncedClaims(dirty);
    if (ids.length < BATCH) return total;
  }
}

/** Agents seen by polls in Redis → Postgres (name, location, capabilities replaced; first/last seen). */
export async function syncAgents(deps: Deps): Promise<number> {
  const { redis, scripts } = deps;
  let total = 0;
  for (;;) {
    const ids = await redis.spop(scripts.keys.agentsDirty, BATCH);
    if (ids.length === 0) return total;
    try {
      const pipeline = redis.pipeline();
      for (const id of ids) pipeline.hgetall(scripts.keys.agent(id));
      const replies = (await pipeline.exec()) ?? [];
      const agents = ids
        .map((id, index) => ({ id, hash: (replies[index]?.[1] ?? {}) as Record<string, string> }))
        .filter(({ hash }) => hash.last_seen !== undefined)
        .map(({ id, hash }) => agentRecord(id, hash));
      await upsertAgents(deps.db, agents);
      total += agents.length;
    } catch (error) {
      // Keep them dirty for the next run.
      await redis.sadd(scripts.keys.agentsDirty, ...ids);
      throw error;
    }
    if (ids.length < BATCH) return total;
  }
}

/** An agent's hash as claimTasks leaves it → what Postgres keeps. */
function agentRecord(id: string, hash: Record<string, string>): AgentRecord {
  const capabilities = (hash.capabilities ? JSON.parse(hash.capabilities) : {}) as Record<string, { version: number }>;
  return {
    id,
    name: hash.name ?? '',
    location: hash.location ? (JSON.parse(hash.location) as AgentLocation) : undefined,
    capabilities: Object.entries(capabilities).map(([task_type, { version }]) => ({ task_type, task_version: version })),
    first_seen: new Date(Number(hash.first_seen ?? hash.last_seen)),
    last_seen: new Date(Number(hash.last_seen)),
  };
}
