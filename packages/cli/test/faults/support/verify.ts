/**
 * What every fault test holds AFM to afterwards (the invariants (README, Development)): each accepted task is in Postgres once and
 * finished, none was handed out twice, each accepted result is the one stored, nothing is left in the
 * results queue, and nothing unexpected was answered.
 */
import { expect } from 'vitest';
import { sql, type Kysely } from 'kysely';
import type { Config } from '@afm/shared/config';
import type { Database } from '@afm/shared/db/schema';
import { createResultsQueue } from '@afm/shared/dispatch/results';
import { dispatchKeys } from '@afm/shared/dispatch/keys';
import { connectRedis, createRedis } from '@afm/shared/redis';
import { waitFor } from '@afm/shared/testing/wait';
import type { Ledger } from './load.js';

interface Row {
  id: string;
  state: string;
  result: unknown;
  error: string | null;
  attempts: number;
  finished: boolean;
}

export interface Figures {
  accepted: number;
  uncertain: number;
  results: number;
  /** Accepted tasks whose hand-out was lost with a dying connection; they fail once their agent is silent. */
  lostInFlight: number;
  counts: Record<string, number>;
}

async function rows(db: Kysely<Database>, ids: string[]): Promise<Row[]> {
  const found = await db
    .selectFrom('tasks')
    .select(['id', 'state', 'result', 'error', 'attempts'])
    .select(sql<boolean>`finished_at is not null`.as('finished'))
    .where('id', '=', sql<string>`any(${ids}::uuid[])`)
    .execute();
  return found as Row[];
}

/** A `drained` condition for `Load.stop`: Postgres shows none of the ledger's tasks still waiting. */
export const noneWaiting = (db: Kysely<Database>) => async (ledger: Ledger) => {
  const ids = [...ledger.tasks.keys(), ...ledger.uncertainTasks];
  const { n } = await db
    .selectFrom('tasks')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('id', '=', sql<string>`any(${ids}::uuid[])`)
    .where('state', '=', 'waiting')
    .executeTakeFirstOrThrow();
  return Number(n) === 0;
};

/** For a failure's report: the ledger's tasks Postgres holds unfinished, by state, with a few of their ids. */
export async function unfinished(db: Kysely<Database>, ledger: Ledger): Promise<Record<string, { count: number; some: string[] }>> {
  const found = await rows(db, [...ledger.tasks.keys(), ...ledger.uncertainTasks]);
  const byState: Record<string, { count: number; some: string[] }> = {};
  for (const row of found.filter((candidate) => !candidate.finished)) {
    const entry = (byState[row.state] ??= { count: 0, some: [] });
    entry.count++;
    if (entry.some.length < 5) entry.some.push(row.id);
  }
  return byState;
}

/** How many hand-outs a poll whose answer was lost (not refused) may have taken with it. */
export function lostAnswersBound(ledger: Ledger, maxTasks: number): number {
  const lostPolls = Object.entries(ledger.counts)
    .filter(([what]) => what.startsWith('poll ') && what !== 'poll ECONNREFUSED')
    .reduce((sum, [, n]) => sum + n, 0);
  return lostPolls * maxTasks;
}

/**
 * Waits until every task the ledger knows is finished in Postgres (lost hand-outs fail once their
 * agent is silent), then checks. `maxLost`: how many accepted tasks may have been handed out by a poll
 * whose answer never reached its agent (0 when no poll failed).
 */
export async function verifyLedger(
  db: Kysely<Database>,
  config: Config,
  ledger: Ledger,
  maxLost: number,
  settleMs = 60_000,
): Promise<Figures> {
  expect(ledger.unexpected, 'answers no client should see').toEqual([]);
  const ids = [...ledger.tasks.keys(), ...ledger.uncertainTasks];
  const stored = await waitFor(
    async () => {
      const found = await rows(db, ids);
      return found.every((row) => row.finished) && found;
    },
    { timeoutMs: settleMs, intervalMs: 250, what: 'every task to finish in Postgres' },
  );
  const byId = new Map(stored.map((row) => [row.id, row]));

  const missing = [...ledger.tasks.keys()].filter((id) => !byId.has(id));
  expect(missing, 'accepted tasks missing from Postgres').toEqual([]);

  // Handed out at most once: as the agents saw it, and as AFM counted claims (no task has retries),
  // which also covers hand-outs whose answer was lost.
  const twice = [...ledger.deliveries].filter(([, agents]) => agents.length > 1);
  expect(twice, 'tasks handed out more than once').toEqual([]);
  expect(
    stored.filter((row) => row.attempts > 1).map((row) => row.id),
    'tasks claimed more than once',
  ).toEqual([]);

  const notStored = [...ledger.results].filter(([id, result]) => {
    const row = byId.get(id);
    return row?.state !== 'completed' || JSON.stringify(row.result) !== JSON.stringify(result);
  });
  expect(
    notStored.map(([id, result]) => ({ id, sent: result, stored: byId.get(id) })),
    'accepted results not the stored outcome',
  ).toEqual([]);
  for (const [id, result] of ledger.uncertainResults) {
    const row = byId.get(id)!;
    if (row.state === 'completed') expect(row.result, `result of ${id}`).toEqual(result);
  }
  for (const id of ledger.refusedResults.keys()) expect(byId.get(id)?.state, `task ${id} whose result was refused`).toBe('failed');
  // A completed task's result came from an agent of this test, so it is in the ledger.
  const foreign = stored.filter((row) => row.state === 'completed' && !ledger.results.has(row.id) && !ledger.uncertainResults.has(row.id));
  expect(foreign, 'completed tasks without a result from an agent').toEqual([]);

  const redis = createRedis(config, 'client');
  await connectRedis(redis);
  const results = createResultsQueue(redis, config.QUEUE_PREFIX);
  try {
    // A dead worker's jobs return to the queue only when their locks expire; they are then no-ops.
    const left = async () => ({
      ...(await results.getJobCounts('waiting', 'active', 'delayed', 'failed')),
      unsaved: await redis.zcard(dispatchKeys(config.QUEUE_PREFIX).unsaved),
    });
    await waitFor(async () => Object.values(await left()).every((n) => n === 0), {
      timeoutMs: settleMs,
      intervalMs: 250,
      what: 'an empty results queue',
    }).catch(async () => {
      expect(await left(), 'results queue and results not yet in Postgres').toEqual({
        waiting: 0,
        active: 0,
        delayed: 0,
        failed: 0,
        unsaved: 0,
      });
    });
  } finally {
    await results.close();
    await redis.quit();
  }

  const lostInFlight = stored.filter((row) => !ledger.deliveries.has(row.id)).length;
  expect(lostInFlight, 'tasks handed out by polls whose answer was lost').toBeLessThanOrEqual(maxLost);
  return {
    accepted: ledger.tasks.size,
    uncertain: ledger.uncertainTasks.size,
    results: ledger.results.size,
    lostInFlight,
    counts: ledger.counts,
  };
}

/** Prints a fault test's figures (what the closing notes and SECURITY.md quote). */
export function report(label: string, figures: object): void {
  process.stdout.write(`${label} ${JSON.stringify(figures)}\n`);
}
