/**
 * The `sync` job: Postgres (the system of record) catches up with the hot state that polls leave in
 * Redis — claims → tasks.state/agent_id/claimed_at, agents seen → agents and agent_capabilities.
 */
import { recordClaims } from '@afm/shared/db/tasks';
import { upsertAgents } from '@afm/shared/db/agents';
import type { WorkerDeps } from '../deps.js';
import { runSteps } from '../jobs/steps.js';

const BATCH = 1_000;

type Deps = Pick<WorkerDeps, 'db' | 'dispatch'>;

/** Claims, then agents: each step runs even when the other fails. */
export const sync = (deps: Deps) => runSteps({ claims: () => syncClaims(deps), agents: () => syncAgents(deps) });

/** Claims recorded by polls in Redis → Postgres. */
export async function syncClaims(deps: Deps): Promise<number> {
  let total = 0;
  for (;;) {
    const { records, marks } = await deps.dispatch.dirtyClaims(BATCH);
    if (marks.length === 0) return total;
    total += await recordClaims(deps.db, records);
    await deps.dispatch.forgetSyncedClaims(marks);
    if (marks.length < BATCH) return total;
  }
}

/** Agents seen by polls in Redis → Postgres (name, location, capabilities replaced; first/last seen). */
export async function syncAgents(deps: Deps): Promise<number> {
  let total = 0;
  for (;;) {
    const { ids, agents } = await deps.dispatch.takeDirtyAgents(BATCH);
    if (ids.length === 0) return total;
    try {
      await upsertAgents(deps.db, agents);
      total += agents.length;
    } catch (error) {
      // Keep them dirty for the next run.
      await deps.dispatch.markAgentsDirty(ids);
      throw error;
    }
    if (ids.length < BATCH) return total;
  }
}
