/**
 * The `history` job: one sample of every queue's state and counters into Redis (history/samples.ts),
 * kept for HISTORY_HOURS, for the charts of GET /api/history. Redis only: it runs while Postgres is down.
 */
import type { Dispatch } from '@afm/shared/dispatch/dispatch';
import { appendSample, HistorySampler } from '@afm/shared/history/samples';
import type { WorkerDeps } from '../deps.js';

/** One sampler per deployment's dispatch in this process: what it sampled last, to leave out what did not change. */
const samplers = new WeakMap<Dispatch, HistorySampler>();

export async function sampleHistory(deps: Pick<WorkerDeps, 'dispatch' | 'config'>, now = Date.now()): Promise<{ queues: number }> {
  const states = await deps.dispatch.queueStates();
  let sampler = samplers.get(deps.dispatch);
  if (!sampler) samplers.set(deps.dispatch, (sampler = new HistorySampler()));
  await appendSample(deps.dispatch.redis, deps.dispatch.keys, states, deps.config.HISTORY_HOURS * 3_600_000, now, sampler);
  return { queues: states.length };
}
