/**
 * Queue history for the dashboard's charts: the worker's `history` job samples every queue's state
 * (waiting, in progress, paused, the event counters) every HISTORY_STEP_MS into one sorted set per
 * deployment, trimmed to HISTORY_HOURS. Throughput is not stored: it is the difference of the counters
 * between two samples, computed when read.
 */
import type { QueueState } from '../dispatch/dispatch.js';
import type { DispatchKeys } from '../dispatch/keys.js';
import { QUEUE_EVENTS, type QueueEvent } from '../dispatch/states.js';
import type { RedisClient } from '../redis.js';

/** Period of the samples, and width of a latency slot (latency.ts). */
export const HISTORY_STEP_MS = 10_000;

/**
 * A sample leaves out the queues that are empty and unchanged since the sampler's last one (most
 * location queues, most of the time), so Redis holds what moves, not every queue ever used. Every
 * KEYFRAME_MS a sample holds every queue, so a reader that starts that much before its window knows
 * every queue's state.
 */
export const KEYFRAME_MS = 5 * 60_000;

/** Points a series has at most: longer windows are read at a coarser step, rates averaged over it. */
export const MAX_POINTS = 360;

type Keys = Pick<DispatchKeys, 'history'>;

export interface QueueSample {
  waiting: number;
  inProgress: number;
  paused: boolean;
  events: Record<QueueEvent, number>;
}

export interface HistorySample {
  /** When it was taken (ms). */
  t: number;
  queues: Record<string, QueueSample>;
}

/**
 * A sample as stored: its column names once, then one array of numbers per queue — a few dozen bytes
 * per queue, and samples taken before a new event was counted still read right.
 */
interface StoredSample {
  t: number;
  cols: string[];
  q: Record<string, number[]>;
}

const COLUMNS = ['waiting', 'in_progress', 'paused', ...QUEUE_EVENTS];

/** What one sampling process remembers between its samples, to leave out what did not change. */
export class HistorySampler {
  private last = new Map<string, string>();
  private keyframeAt = Number.NEGATIVE_INFINITY;

  /** The rows of this sample: every queue at a keyframe, else those that hold tasks or changed. */
  rows(states: QueueState[], now: number): Record<string, number[]> {
    const keyframe = now - this.keyframeAt >= KEYFRAME_MS;
    if (keyframe) this.keyframeAt = now;
    const rows: Record<string, number[]> = {};
    const seen = new Map<string, string>();
    for (const state of states) {
      const row = [state.waiting, state.inProgress, state.paused ? 1 : 0, ...QUEUE_EVENTS.map((event) => state.events[event])];
      const text = row.join(',');
      seen.set(state.queue, text);
      const idle = state.waiting === 0 && state.inProgress === 0;
      if (keyframe || !idle || this.last.get(state.queue) !== text) rows[state.queue] = row;
    }
    this.last = seen;
    return rows;
  }
}

/**
 * Appends one sample and drops those older than the window. The count is bounded too (twice the
 * samples the window holds at the normal period), should samples come faster. Without a sampler, the
 * sample holds every queue.
 */
export async function appendSample(
  redis: RedisClient,
  keys: Keys,
  states: QueueState[],
  windowMs: number,
  now = Date.now(),
  sampler: HistorySampler = new HistorySampler(),
): Promise<void> {
  const stored: StoredSample = { t: now, cols: COLUMNS, q: sampler.rows(states, now) };
  const most = 2 * Math.ceil(windowMs / HISTORY_STEP_MS);
  await redis
    .multi()
    .zadd(keys.history, now, JSON.stringify(stored))
    .zremrangebyscore(keys.history, '-inf', `(${now - windowMs}`)
    .zremrangebyrank(keys.history, 0, -most - 1)
    .pexpire(keys.history, windowMs)
    .exec();
}

/**
 * The samples taken since `from` (ms), oldest first, with those of the KEYFRAME_MS before and the one
 * before those: the states left out of later samples, and the first rates, need them.
 */
export async function readSamples(redis: RedisClient, keys: Keys, from: number): Promise<HistorySample[]> {
  const start = from - KEYFRAME_MS;
  const [before, since] = await Promise.all([
    redis.zrevrangebyscore(keys.history, `(${start}`, '-inf', 'LIMIT', 0, 1),
    redis.zrangebyscore(keys.history, start, '+inf'),
  ]);
  return [...before, ...since].flatMap((text) => {
    const sample = decode(text);
    return sample ? [sample] : [];
  });
}

function decode(text: string): HistorySample | undefined {
  let stored: StoredSample;
  try {
    stored = JSON.parse(text) as StoredSample;
  } catch {
    return undefined;
  }
  const at = (row: number[], column: string) => {
    const index = stored.cols.indexOf(column);
    return index < 0 ? 0 : (row[index] ?? 0);
  };
  return {
    t: stored.t,
    queues: Object.fromEntries(
      Object.entries(stored.q).map(([queue, row]) => [
        queue,
        {
          waiting: at(row, 'waiting'),
          inProgress: at(row, 'in_progress'),
          paused: at(row, 'paused') === 1,
          events: Object.fromEntries(QUEUE_EVENTS.map((event) => [event, at(row, event)])) as Record<QueueEvent, number>,
        },
      ]),
    ),
  };
}

export interface QueuePoint {
  t: number;
  waiting: number;
  in_progress: number;
  paused: boolean;
  /** Events per second since the sample before; null for a queue's first sample. */
  per_second: Record<QueueEvent, number | null>;
}

export type TotalPoint = Omit<QueuePoint, 'paused'>;

/**
 * Chartable series from samples (oldest first): per queue (those `chart` picks) and summed over every
 * queue, one point per kept sample at or after `from` — every sample, or every k-th so that at most
 * `maxPoints` remain (rates then average over the longer step). A queue left out of a sample is as it
 * was (HistorySampler). A counter lower than before was reset (Redis lost its data): it counts from
 * zero, as Prometheus' rate() takes it.
 */
export function historySeries(
  samples: HistorySample[],
  from: number,
  { chart = () => true, maxPoints = MAX_POINTS }: { chart?: (queue: string) => boolean; maxPoints?: number } = {},
): { queues: Map<string, QueuePoint[]>; totals: TotalPoint[] } {
  const queues = new Map<string, QueuePoint[]>();
  const totals: TotalPoint[] = [];
  const inWindow = samples.filter((sample) => sample.t >= from).length;
  const step = Math.max(1, Math.ceil(inWindow / maxPoints));
  const known = new Map<string, QueueSample>();
  let reference: { t: number; states: Map<string, QueueSample> } | undefined;
  for (const [position, sample] of samples.entries()) {
    for (const [queue, state] of Object.entries(sample.queues)) known.set(queue, state);
    // The last sample and every step-th before it, before the window too: the first point's rates
    // then cover a whole step as the others do.
    const aligned = (samples.length - 1 - position) % step === 0;
    if (!aligned || sample.t < from) {
      if (aligned || (!reference && totals.length === 0)) reference = { t: sample.t, states: new Map(known) };
      continue;
    }
    const seconds = reference ? (sample.t - reference.t) / 1000 : 0;
    const total: TotalPoint = {
      t: sample.t,
      waiting: 0,
      in_progress: 0,
      per_second: Object.fromEntries(QUEUE_EVENTS.map((event) => [event, null])) as Record<QueueEvent, number | null>,
    };
    for (const [queue, state] of known) {
      const before = reference?.states.get(queue);
      const per_second = Object.fromEntries(
        QUEUE_EVENTS.map((event) => {
          if (!before || seconds <= 0) return [event, null];
          const now = state.events[event];
          const then = before.events[event];
          return [event, (now >= then ? now - then : now) / seconds];
        }),
      ) as Record<QueueEvent, number | null>;
      if (chart(queue)) {
        const points = queues.get(queue) ?? [];
        points.push({ t: sample.t, waiting: state.waiting, in_progress: state.inProgress, paused: state.paused, per_second });
        queues.set(queue, points);
      }
      total.waiting += state.waiting;
      total.in_progress += state.inProgress;
      for (const event of QUEUE_EVENTS) {
        const rate = per_second[event];
        if (rate !== null) total.per_second[event] = (total.per_second[event] ?? 0) + rate;
      }
    }
    totals.push(total);
    reference = { t: sample.t, states: new Map(known) };
  }
  return { queues, totals };
}
