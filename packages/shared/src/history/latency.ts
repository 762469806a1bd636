/**
 * Request latency over time, fleet-wide: each API replica counts the durations of a few routes in
 * histogram buckets per 10-s slot in memory and adds its counts to one Redis hash per slot every few
 * seconds (HINCRBY), never on the request path; a failed flush keeps its counts for the next one and
 * never touches a request. Readers merge the slots' buckets — every replica's — and compute p50 and
 * p99 from the bucket bounds, as Prometheus' histogram_quantile does.
 */
import type { DispatchKeys } from '../dispatch/keys.js';
import type { RedisClient } from '../redis.js';
import { HISTORY_STEP_MS } from './samples.js';

/** Upper bounds of the buckets, in seconds; a last bucket takes the rest. */
export const LATENCY_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const OVERFLOW = 'inf';
/** Between flushes of a replica's counts to Redis. */
export const LATENCY_FLUSH_MS = 5_000;

type Keys = Pick<DispatchKeys, 'latency'>;

export const latencySlot = (ms: number) => Math.floor(ms / HISTORY_STEP_MS);

export interface LatencyOptions {
  /** How long slots are kept (HISTORY_HOURS), ms. */
  windowMs: number;
  flushEveryMs?: number;
  onError?: (error: unknown) => void;
}

/** How long counts that Redis did not take are kept for another flush. */
export const UNFLUSHED_MS = 5 * 60_000;

/** One replica's latency counts, waiting for their next flush. */
export class LatencyRecorder {
  /** slot → field (`<route>|<bound>`) → count. */
  private pending = new Map<number, Map<string, number>>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> | undefined;

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: Keys,
    private readonly options: LatencyOptions,
  ) {
    this.timer = setInterval(() => void this.flush(), options.flushEveryMs ?? LATENCY_FLUSH_MS).unref();
  }

  observe(route: string, seconds: number, now = Date.now()): void {
    const slot = latencySlot(now);
    const bound = LATENCY_BOUNDS.find((upper) => seconds <= upper);
    const field = `${route}|${bound ?? OVERFLOW}`;
    let counts = this.pending.get(slot);
    if (!counts) this.pending.set(slot, (counts = new Map()));
    counts.set(field, (counts.get(field) ?? 0) + 1);
  }

  /** Adds the counts so far to Redis; one flush at a time. Never rejects (errors go to onError). */
  flush(now = Date.now()): Promise<void> {
    this.flushing ??= this.write(now).finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async write(now: number): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const pipeline = this.redis.multi();
    for (const [slot, counts] of batch) {
      const key = this.keys.latency(slot);
      for (const [field, count] of counts) pipeline.hincrby(key, field, count);
      pipeline.pexpire(key, this.options.windowMs + HISTORY_STEP_MS);
    }
    try {
      const replies = await pipeline.exec();
      const failed = replies?.find(([error]) => error)?.[0];
      if (!replies || failed) throw failed ?? new Error('Redis did not run the latency flush');
    } catch (error) {
      // Kept for the next flush, for a few minutes at most: through a long Redis outage the counts
      // would otherwise pile up in the replica's heap. (An EXEC whose reply was lost may count twice.)
      const oldest = latencySlot(now - Math.min(this.options.windowMs, UNFLUSHED_MS));
      for (const [slot, counts] of batch) {
        if (slot < oldest) continue;
        const current = this.pending.get(slot) ?? new Map<string, number>();
        for (const [field, count] of counts) current.set(field, (current.get(field) ?? 0) + count);
        this.pending.set(slot, current);
      }
      this.options.onError?.(error);
    }
  }

  /** Slots whose counts wait for a flush (tests). */
  pendingSlots(): number {
    return this.pending.size;
  }

  /** Stops the timer and flushes what is left. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flush();
  }
}

export interface LatencyPoint {
  /** Start of the slot (ms). */
  t: number;
  /** Seconds; null when the slot saw no request of the route. */
  p50: number | null;
  p99: number | null;
  count: number;
}

/** Per route, the slots from `from` to `to` (ms) that saw requests, oldest first, every replica's counts merged. */
export async function readLatency(redis: RedisClient, keys: Keys, from: number, to: number): Promise<Record<string, LatencyPoint[]>> {
  const slots: number[] = [];
  for (let slot = latencySlot(from); slot <= latencySlot(to); slot++) slots.push(slot);
  const pipeline = redis.pipeline();
  for (const slot of slots) pipeline.hgetall(keys.latency(slot));
  const replies = (await pipeline.exec()) ?? [];
  const routes: Record<string, LatencyPoint[]> = {};
  slots.forEach((slot, index) => {
    const [error, hash] = replies[index] ?? [null, {}];
    if (error) throw error;
    const byRoute = new Map<string, Map<number, number>>();
    for (const [field, count] of Object.entries(hash as Record<string, string>)) {
      const split = field.lastIndexOf('|');
      const bound = field.slice(split + 1);
      const upper = bound === OVERFLOW ? Infinity : Number(bound);
      if (split <= 0 || Number.isNaN(upper)) continue;
      const buckets = byRoute.get(field.slice(0, split)) ?? new Map<number, number>();
      buckets.set(upper, (buckets.get(upper) ?? 0) + Number(count));
      byRoute.set(field.slice(0, split), buckets);
    }
    for (const [route, buckets] of byRoute) {
      // Every bound, counted or not: a bucket's lower end is the bound below it.
      for (const upper of [...LATENCY_BOUNDS, Infinity]) if (!buckets.has(upper)) buckets.set(upper, 0);
      const sorted = [...buckets].sort(([a], [b]) => a - b);
      const count = sorted.reduce((sum, [, n]) => sum + n, 0);
      (routes[route] ??= []).push({ t: slot * HISTORY_STEP_MS, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), count });
    }
  });
  return routes;
}

/**
 * The q-quantile of a histogram given as [upper bound, count] pairs in increasing order: linear within
 * the bucket it falls in (from the bucket below's bound, 0 for the first); in the last, unbounded
 * bucket, the highest finite bound. Null for an empty histogram.
 */
export function quantile(buckets: [number, number][], q: number): number | null {
  const total = buckets.reduce((sum, [, count]) => sum + count, 0);
  if (total === 0) return null;
  const rank = q * total;
  let below = 0;
  let lower = 0;
  for (const [upper, count] of buckets) {
    if (count > 0 && below + count >= rank) {
      if (upper === Infinity) return lower;
      return lower + ((upper - lower) * (rank - below)) / count;
    }
    below += count;
    if (upper !== Infinity) lower = upper;
  }
  return lower;
}
