// Issue 13, TASK_RETENTION: finished tasks posted and finished before the retention are deleted in
// batches; waiting, claimed and recent tasks stay; a run stops at its budget and the next goes on;
// off by default (no job).
import { randomUUID } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAINTENANCE_JOB_TABLE } from '../src/jobs/table.js';
import { enforceRetention } from '../src/services/retention.service.js';
import { startWorkerHarness, type WorkerHarness } from './harness.js';

const DAY = 86_400_000;
let h: WorkerHarness;
beforeAll(async () => {
  h = await startWorkerHarness('retention', { TASK_RETENTION: '90d' });
});
afterAll(() => h.close());

/** `count` tasks posted `ageDays` ago, finished a second later unless `state` is waiting or claimed. */
async function seed(count: number, ageDays: number, state: 'completed' | 'failed' | 'waiting' | 'claimed' = 'completed') {
  const ids = Array.from({ length: count }, () => randomUUID());
  const posted = new Date(Date.now() - ageDays * DAY);
  const finished = state === 'completed' || state === 'failed' ? new Date(posted.getTime() + 1000) : null;
  await sql`
    insert into tasks (id, test_id, task_type, task_version, task_data, state, posted_at, finished_at, result, error)
    select id, gen_random_uuid(), 'retention', 1, '{}'::jsonb, ${state}, ${posted}, ${finished},
           ${state === 'completed' ? sql`'{}'::jsonb` : sql`null`}, ${state === 'failed' ? 'timeout' : null}
    from unnest(${ids}::uuid[]) as id`.execute(h.deps.db);
  return ids;
}

const present = async (ids: string[]) =>
  Number((await sql<{ n: string }>`select count(*) as n from tasks where id = any(${ids}::uuid[])`.execute(h.deps.db)).rows[0]!.n);

describe('TASK_RETENTION', () => {
  it('deletes only finished history older than the retention, in batches', async () => {
    const old = [...(await seed(2_500, 120)), ...(await seed(500, 91, 'failed'))];
    const recent = await seed(300, 30);
    const oldWaiting = await seed(20, 200, 'waiting');
    const oldClaimed = await seed(20, 200, 'claimed');

    const run = await enforceRetention(h.deps, Date.now(), { batch: 700 });
    expect(run).toEqual({ deleted: 3_000, batches: 5, more: false });
    expect(await present(old)).toBe(0);
    expect(await present(recent)).toBe(300);
    // Not finished, however old: never the retention's (their life is the dispatch core's).
    expect(await present([...oldWaiting, ...oldClaimed])).toBe(40);
    expect((await enforceRetention(h.deps)).deleted).toBe(0);
  });

  it('stops a run at its budget and goes on in the next', async () => {
    const old = await seed(3_000, 100);
    const first = await enforceRetention(h.deps, Date.now(), { batch: 500, budgetMs: 0 });
    expect(first).toEqual({ deleted: 500, batches: 1, more: true });
    expect(await present(old)).toBe(2_500);
    const rest = await enforceRetention(h.deps, Date.now(), { batch: 500 });
    expect(rest.deleted).toBe(2_500);
    expect(await present(old)).toBe(0);
  });

  it('is a worker job only when TASK_RETENTION is set', async () => {
    const job = MAINTENANCE_JOB_TABLE.retention;
    expect(job.everyMs(h.deps, {})).toBe(10_000);
    expect(job.everyMs({ ...h.deps, config: { ...h.deps.config, TASK_RETENTION: undefined } }, {})).toBeNull();
    const off = await enforceRetention({ ...h.deps, config: { ...h.deps.config, TASK_RETENTION: undefined } });
    expect(off.deleted).toBe(0);
  });
});
