// Issue 14: the benchmark's comparison tools. The table's ratios and ceiling fractions are the
// arithmetic they claim; the HTTP ceiling answers the posts it is sent; `--against` drives a server by
// protocol v1 alone and checks every result through GET /task, retrying a 5xx as SPEC asks a client to.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSystem, type System } from './support/system.js';
import { startInProcessWorker } from './support/topology.js';

// The benchmark is plain JavaScript outside the packages: imported by path, untyped.
const tool = (file: string) => new URL(`../../../tools/bench/${file}`, import.meta.url).href;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Untyped = any;
let compare: Untyped;
let scenarios: Untyped;
let system: Untyped;

let s: System;
beforeAll(async () => {
  [compare, scenarios, system] = await Promise.all(
    [tool('compare.mjs'), tool('scenarios.mjs'), tool('system.mjs')].map((url) => import(url)),
  );
  s = await startSystem('bench');
});
afterAll(() => s.close());

describe('npm run bench -- --compare', () => {
  it('prints ratios to the original and fractions of the ceiling from the medians', () => {
    const table: string = compare.compareTable([
      { name: 'ceiling', label: 'ceiling', median: { posts_per_s: 8_000, post_p99_ms: 30 }, server_errors: 0, failed_rounds: 0 },
      {
        name: 'original',
        label: 'original',
        median: { posts_per_s: 400, cycles_per_s: 160, poll_p99_ms: 500, post_p99_ms: 300 },
        server_errors: 2,
        failed_rounds: 1,
      },
      {
        name: 'afm',
        label: 'AFM',
        median: { posts_per_s: 4_000, cycles_per_s: 1_800, poll_p99_ms: 50, post_p99_ms: 60 },
        server_errors: 0,
        failed_rounds: 0,
      },
    ]);
    const row = (label: string) => table.split('\n').find((line) => line.startsWith(`| ${label} |`))!;
    expect(row('AFM')).toBe('| AFM | 4000 | 1800 | 50.0 ms | 60.0 ms | 10.0× | 11.3× | 10.0× | 0.50 | – | – | 0 | 0 |');
    expect(row('original')).toBe('| original | 400 | 160 | 500.0 ms | 300.0 ms | 1× | 1× | 1× | 0.05 | – | – | 2 | 1 |');
    expect(row('ceiling')).toContain('| 20.0× |');
  });

  it("counts the CPU of a server's processes per post and per cycle, not the load generator's", () => {
    const figures = compare.cpuPerTask({
      posts_per_s: 2_000,
      cycles_per_s: 1_000,
      cpu_percent_posting: { 'api-1': 50, 'api-2': 50, 'load generator': 30 },
      cpu_percent_draining: { 'api-1': 40, redis: 40, 'load generator': 20 },
    });
    expect(figures).toEqual({ cpu_us_per_post: 500, cpu_us_per_cycle: 800 });
  });

  it('measures the HTTP ceiling, a bare Fastify answering every post', async () => {
    const ceiling = await compare.systemOf('ceiling', { replicas: 2, workers: 1, env: {} }).start();
    try {
      const result = await scenarios.burst(ceiling, { tasks: 300, concurrency: 16 });
      expect(result.posts_per_s).toBeGreaterThan(0);
      expect(result.routes['POST /task'].n).toBe(300);
      expect(result.cycles_per_s).toBeUndefined();
      // Its own processes are measured (not only the load generator).
      expect(Object.keys(result.cpu_percent_posting)).toEqual(['ceiling', 'load generator']);
    } finally {
      await ceiling.stop();
    }
  });
});

describe('npm run bench -- --against URL', () => {
  it('drives any protocol v1 server and checks every result by GET /task alone', async () => {
    const worker = await startInProcessWorker(s.env.config, s.env.logger);
    try {
      const before = await scenarios.serverHistograms([s.a.url, s.b.url]);
      const result = await scenarios.burst(system.externalSystem([s.a.url, s.b.url]), { tasks: 200, agents: 4 });
      expect(result.correctness).toEqual({ delivered_twice: 0, lost: 0, stored: 200, right: 200 });
      expect(result.server_errors).toBe(0);
      // The soak's server-side p99: the replicas' own histograms, summed over both, between two readings.
      const after = await scenarios.serverHistograms([s.a.url, s.b.url]);
      expect(after.get('POST /task').get(Infinity) - (before.get('POST /task')?.get(Infinity) ?? 0)).toBe(200);
      const p99 = scenarios.histogramP99(before, after, 'POST /task');
      expect(p99).toBeGreaterThan(0);
      expect(p99).toBeLessThanOrEqual(5_000);
      expect(scenarios.histogramP99(after, after, 'POST /task')).toBeNull();
    } finally {
      await worker.close();
    }
  });
});
