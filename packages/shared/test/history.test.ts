// Issue 15: history kept in Redis for the dashboard's charts — queue samples trimmed to a window,
// throughput from counter differences, latency slots merged across replicas. Real Redis, own prefix.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueueState } from '../src/dispatch/dispatch.js';
import { deleteDeployment } from '../src/dispatch/dispatch.js';
import { dispatchKeys } from '../src/dispatch/keys.js';
import { QUEUE_EVENTS, type QueueEvent } from '../src/dispatch/states.js';
import { LATENCY_BOUNDS, LatencyRecorder, quantile, readLatency, UNFLUSHED_MS } from '../src/history/latency.js';
import { appendSample, HISTORY_STEP_MS, HistorySampler, historySeries, KEYFRAME_MS, readSamples } from '../src/history/samples.js';
import { connectRedis, createRedis, type RedisClient } from '../src/redis.js';
import { waitFor } from '../testing/wait.js';

const url = process.env.AFM_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const prefix = `test-history-${randomUUID().slice(0, 8)}`;
let redis: RedisClient;
let other: RedisClient;

beforeAll(async () => {
  redis = createRedis(url, 'client');
  other = createRedis(url, 'client');
  await Promise.all([connectRedis(redis), connectRedis(other)]);
});
afterAll(async () => {
  await deleteDeployment(redis, prefix);
  await Promise.all([redis.quit(), other.quit()]);
});

/** Each test its own deployment keys, under the file's prefix. */
const keysOf = () => dispatchKeys(`${prefix}:${randomUUID().slice(0, 6)}`);
const HOUR = 3_600_000;
const T0 = Date.UTC(2026, 11, 2, 12, 0, 0);

const state = (queue: string, waiting: number, events: Partial<Record<QueueEvent, number>> = {}): QueueState => ({
  queue,
  waiting,
  inProgress: 1,
  oldestPostedAt: null,
  paused: false,
  events: Object.fromEntries(QUEUE_EVENTS.map((event) => [event, events[event] ?? 0])) as Record<QueueEvent, number>,
});

describe('queue samples', () => {
  it('give throughput per second from the counters of consecutive samples, per queue and in total', async () => {
    const keys = keysOf();
    const a = 'task.a.v1';
    const b = 'task.b.v1';
    await appendSample(redis, keys, [state(a, 5, { posted: 100, completed: 90 })], HOUR, T0);
    await appendSample(redis, keys, [state(a, 7, { posted: 120, completed: 95 }), state(b, 1, { posted: 1 })], HOUR, T0 + 10_000);
    await appendSample(redis, keys, [state(a, 2, { posted: 150, completed: 135 }), state(b, 0, { posted: 3 })], HOUR, T0 + 20_000);
    // Redis lost a's counters: they start again from zero. b is left out: as it was.
    await appendSample(redis, keys, [state(a, 0, { posted: 4 })], HOUR, T0 + 30_000);

    const all = historySeries(await readSamples(redis, keys, T0), T0);
    expect(all.queues.get(a)!.map((point) => [point.waiting, point.per_second.posted, point.per_second.completed])).toEqual([
      [5, null, null],
      [7, 2, 0.5],
      [2, 3, 4],
      [0, 0.4, 0],
    ]);
    expect(all.queues.get(b)!.map((point) => point.per_second.posted)).toEqual([null, 0.2, 0]);
    expect(all.totals.map((point) => [point.t, point.waiting, point.in_progress, point.per_second.posted])).toEqual([
      [T0, 5, 1, null],
      [T0 + 10_000, 8, 2, 2],
      [T0 + 20_000, 2, 2, 3.2],
      [T0 + 30_000, 0, 2, 0.4],
    ]);

    // A window starting later reads the sample before it too, so its first point has its rates.
    const later = historySeries(await readSamples(redis, keys, T0 + 15_000), T0 + 15_000);
    expect(later.queues.get(a)!.map((point) => [point.t, point.per_second.posted])).toEqual([
      [T0 + 20_000, 3],
      [T0 + 30_000, 0.4],
    ]);
  });

  it('leave out queues that are empty and unchanged, but for a keyframe, and still read right', async () => {
    const keys = keysOf();
    const sampler = new HistorySampler();
    const idle = (queue: string, posted: number) => ({ ...state(queue, 0, { posted }), inProgress: 0 });
    const busy = 'task.busy.v1';
    const quiet = 'task.quiet.v1';
    const at = (n: number) => T0 + n * HISTORY_STEP_MS;
    // n = 0 is a keyframe: both queues; then quiet stays empty and unchanged until n = 3.
    for (let n = 0; n < 3; n++) await appendSample(redis, keys, [state(busy, n, { posted: 10 * n }), idle(quiet, 5)], HOUR, at(n), sampler);
    await appendSample(redis, keys, [state(busy, 3, { posted: 30 }), idle(quiet, 25)], HOUR, at(3), sampler);
    const stored = await readSamples(redis, keys, T0);
    expect(stored.map((sample) => Object.keys(sample.queues).sort())).toEqual([[quiet, busy].sort(), [busy], [busy], [quiet, busy].sort()]);
    const series = historySeries(stored, T0);
    // Carried while left out, so its rate when it moves again covers the step it moved in.
    expect(series.queues.get(quiet)!.map((point) => point.per_second.posted)).toEqual([null, 0, 0, 2]);
    expect(series.totals.map((point) => point.per_second.posted)).toEqual([null, 1, 1, 3]);
    // The next keyframe holds every queue again.
    await appendSample(redis, keys, [state(busy, 3, { posted: 30 }), idle(quiet, 25)], HOUR, at(3) + KEYFRAME_MS, sampler);
    expect(Object.keys((await readSamples(redis, keys, at(3) + KEYFRAME_MS)).at(-1)!.queues)).toHaveLength(2);
  });

  it('are read at a coarser step over a long window: at most maxPoints, rates averaged', async () => {
    const keys = keysOf();
    for (let n = 0; n <= 20; n++)
      await appendSample(redis, keys, [state('task.a.v1', n, { posted: n * n })], HOUR, T0 + n * HISTORY_STEP_MS);
    const series = historySeries(await readSamples(redis, keys, T0 + HISTORY_STEP_MS), T0 + HISTORY_STEP_MS, { maxPoints: 5 });
    // 20 samples in the window, every 4th kept, ending with the last.
    expect(series.totals.map((point) => (point.t - T0) / HISTORY_STEP_MS)).toEqual([4, 8, 12, 16, 20]);
    // From n = 16 to n = 20: 400 - 256 posts in 40 s.
    expect(series.totals.at(-1)!.per_second.posted).toBeCloseTo(144 / 40, 9);
    expect(series.totals[0]!.per_second.posted).toBeCloseTo((16 - 0) / 40, 9);
  });

  it('are trimmed to the window, by age and by count', async () => {
    const keys = keysOf();
    const window = 30_000;
    for (let n = 0; n <= 10; n++) await appendSample(redis, keys, [state('task.a.v1', n)], window, T0 + n * HISTORY_STEP_MS);
    const kept = await readSamples(redis, keys, 0);
    expect(kept.map((sample) => sample.t)).toEqual([T0 + 70_000, T0 + 80_000, T0 + 90_000, T0 + 100_000]);
    expect(await redis.pttl(keys.history)).toBeGreaterThan(0);
    expect(await redis.pttl(keys.history)).toBeLessThanOrEqual(window);

    // Samples coming far faster than the period still stay bounded: twice what the window holds.
    const fast = keysOf();
    for (let n = 0; n < 20; n++) await appendSample(redis, fast, [state('task.a.v1', n)], window, T0 + n);
    expect(await redis.zcard(fast.history)).toBe(6);
  });
});

describe('latency slots', () => {
  it("merge every replica's flushed counts per 10-s slot, with p50 and p99 from the bucket bounds", async () => {
    const keys = keysOf();
    const replicas = [redis, other].map((client) => new LatencyRecorder(client, keys, { windowMs: HOUR, flushEveryMs: HOUR }));
    try {
      const [one, two] = replicas as [LatencyRecorder, LatencyRecorder];
      for (let n = 0; n < 98; n++) one.observe('POST /task', 0.003, T0 + 1_000);
      two.observe('POST /task', 3, T0 + 2_000);
      two.observe('POST /task', 3, T0 + 9_999);
      two.observe('POST /task', 0.2, T0 + 10_000); // the next slot
      two.observe('GET /task/:task_id', 20, T0 + 3_000); // beyond the last bound
      await Promise.all(replicas.map((replica) => replica.flush()));
      expect(await redis.pttl(keys.latency(Math.floor(T0 / HISTORY_STEP_MS)))).toBeGreaterThan(HOUR - 60_000);

      const latency = await readLatency(redis, keys, T0 - 60_000, T0 + 15_000);
      expect(latency['POST /task']).toEqual([
        // 98 in (0.0025, 0.005], 2 in (2.5, 5]: the 50th falls in the first bucket, the 99th in the second.
        { t: T0, count: 100, p50: expect.closeTo(0.0025 + (0.0025 * 50) / 98, 9), p99: expect.closeTo(2.5 + (2.5 * 1) / 2, 9) },
        { t: T0 + 10_000, count: 1, p50: expect.closeTo(0.1 + 0.15 * 0.5, 9), p99: expect.closeTo(0.1 + 0.15 * 0.99, 9) },
      ]);
      expect(latency['GET /task/:task_id']).toEqual([{ t: T0, count: 1, p50: LATENCY_BOUNDS.at(-1), p99: LATENCY_BOUNDS.at(-1) }]);

      // A second flush of a replica adds to what is there.
      one.observe('POST /task', 0.003, T0 + 4_000);
      await one.flush();
      expect((await readLatency(redis, keys, T0, T0))['POST /task']![0]!.count).toBe(101);
    } finally {
      await Promise.all(replicas.map((replica) => replica.close()));
    }
  });

  it('keep the counts of a failed flush for the next one, without throwing', async () => {
    const keys = keysOf();
    const client = createRedis(url, 'client');
    await connectRedis(client);
    const errors: unknown[] = [];
    const recorder = new LatencyRecorder(client, keys, { windowMs: HOUR, flushEveryMs: HOUR, onError: (error) => errors.push(error) });
    try {
      recorder.observe('POST /tasks', 0.01, T0);
      client.disconnect();
      await waitFor(() => client.status === 'end', { what: 'the connection closed' });
      await recorder.flush(T0);
      expect(errors).toHaveLength(1);
      await client.connect();
      recorder.observe('POST /tasks', 0.01, T0);
      await recorder.flush(T0);
      expect((await readLatency(redis, keys, T0, T0))['POST /tasks']).toEqual([expect.objectContaining({ count: 2 })]);
      // Through a long outage, counts older than UNFLUSHED_MS are let go: the heap stays small.
      client.disconnect();
      await waitFor(() => client.status === 'end', { what: 'the connection closed again' });
      recorder.observe('POST /tasks', 0.01, T0 + 60_000);
      await recorder.flush(T0 + 60_000);
      recorder.observe('POST /tasks', 0.01, T0 + 60_000 + UNFLUSHED_MS + HISTORY_STEP_MS);
      await recorder.flush(T0 + 60_000 + UNFLUSHED_MS + HISTORY_STEP_MS);
      expect(recorder.pendingSlots()).toBe(1);
    } finally {
      await recorder.close();
      client.disconnect();
    }
  });

  it('quantiles interpolate within a bucket; empty is null, the last bucket gives the highest bound', () => {
    expect(quantile([], 0.5)).toBeNull();
    expect(quantile([[1, 0]], 0.5)).toBeNull();
    expect(quantile([[0.1, 10]], 0.5)).toBeCloseTo(0.05, 9);
    expect(
      quantile(
        [
          [0.1, 0],
          [0.2, 4],
          [Infinity, 0],
        ],
        0.25,
      ),
    ).toBeCloseTo(0.125, 9);
    expect(
      quantile(
        [
          [0.1, 1],
          [Infinity, 9],
        ],
        0.99,
      ),
    ).toBe(0.1);
  });
});
