#!/usr/bin/env node
// npm run bench — the performance benchmark of issue 6 (see BENCHMARKS.md). Starts its own AFM (two API
// replicas + one worker, each on a fresh database and Redis prefix), drives it over HTTP, prints one
// table per scenario (or --json), and fails if any run delivers a task twice, loses one or stores a
// wrong result.
//
//   npm run bench [-- --scenario burst,steady,long-poll,backlog,history,fleet,types] [--runs 3] [--json]
//                    [--tasks 20000] [--backlog 1000000] [--history 1000000] [--fleet 10000]
//                    [--replicas 2] [--workers 1] [--set KEY=VALUE]… [--parts steady,burst,cancel (of ack)]
//                    [--against URL[,URL…]]  (any protocol v1 server, e.g. the original: burst, steady, fleet, types)
//   npm run bench -- --compare [--systems ceiling,original,afm,afm@DIR,URL…] [--runs 3] [--tasks 5000]
//                    the burst on each system in alternating rounds of one run, after a warm-up of
//                    1,500 tasks each; medians, ratios to the original, fractions of the HTTP ceiling
// Scenarios run only when named (issue 13, docs/scaling.md): cancel; soak (issue 14: --rate tasks a
// second for --minutes, 1,000 agents, half long-polling, a line a minute); pg-batches (issue 14: Postgres CPU
// per posted task by rows per insert statement); ack (REDIS_ACK_REPLICAS 0 and 1
// in alternating rounds, on a Redis primary with one replica started here); scaling (1, 2 and 3
// replicas, then 1 and 2 workers, alternating); retention (TASK_RETENTION deleting a seeded history
// of --history finished tasks while a burst runs).
import { parseArgs } from 'node:util';
import * as scenarios from './scenarios.mjs';
import { seedBacklog, seedHistory } from './seed.mjs';
import { startPrimaryWithReplica } from './redis-pair.mjs';
import { externalSystem, serverTimings, startSystem } from './system.mjs';
import { compareTable, cpuPerTask, ORIGINAL, systemOf } from './compare.mjs';
import { pgBatches } from './pg-batches.mjs';
import { startPrivatePostgres } from './private-postgres.mjs';
import { newAgent, sleep } from './load.mjs';

const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'burst,steady,long-poll,backlog,history,fleet,types' },
    runs: { type: 'string', default: '3' },
    json: { type: 'boolean', default: false },
    tasks: { type: 'string' },
    agents: { type: 'string', default: '16' },
    rate: { type: 'string', default: '500' },
    backlog: { type: 'string', default: '1000000' },
    history: { type: 'string', default: '1000000' },
    fleet: { type: 'string', default: '10000' },
    types: { type: 'string', default: '500' },
    replicas: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1' },
    set: { type: 'string', multiple: true, default: [] },
    // Protocol v1 servers to measure instead of starting AFM: burst, steady, fleet, types (issue 14).
    against: { type: 'string' },
    // The parts of the ack scenario to run.
    parts: { type: 'string', default: 'steady,burst,cancel' },
    compare: { type: 'boolean', default: false },
    systems: { type: 'string' },
    warmup: { type: 'string', default: '1500' },
    minutes: { type: 'string', default: '30' },
    // `private`: a Postgres of the benchmark's own, stock settings (private-postgres.mjs).
    postgres: { type: 'string', default: 'shared' },
  },
});
/** AFM configuration for every system started (`--set KEY=VALUE`). */
const settings = Object.fromEntries(
  values.set.map((setting) => {
    const eq = setting.indexOf('=');
    if (eq <= 0) throw new Error(`--set takes KEY=VALUE, got ${setting}`);
    return [setting.slice(0, eq), setting.slice(eq + 1)];
  }),
);
const shape = { replicas: Number(values.replicas), workers: Number(values.workers) };
const wanted = new Set(values.scenario.split(','));
const runs = Number(values.runs);
const log = (line) => process.stderr.write(`${line}\n`);

const median = (numbers) => {
  const sorted = numbers.filter((n) => typeof n === 'number').sort((a, b) => a - b);
  return sorted.length ? sorted[Math.floor((sorted.length - 1) / 2)] : null;
};

/** The median of each number across runs (objects merged key by key). */
function medianOf(results) {
  const [first] = results;
  if (typeof first === 'number') return median(results);
  if (first === null || typeof first !== 'object') return first;
  return Object.fromEntries(Object.keys(first).map((key) => [key, medianOf(results.map((result) => result?.[key]))]));
}

/** One round in a line: throughput, then p50/p99 (ms) per route. */
const roundFigures = (result) =>
  [
    result.posts_per_s === undefined ? '' : `${result.posts_per_s} posts/s, ${result.cycles_per_s} cycles/s;`,
    ...Object.entries(result.routes ?? {}).map(([route, stats]) => `${route} ${stats.p50?.toFixed(1)}/${stats.p99?.toFixed(1)}`),
  ]
    .filter(Boolean)
    .join(' ');

async function repeat(name, system, run) {
  const results = [];
  for (let i = 1; i <= runs; i++) {
    log(`${name}: run ${i}/${runs}`);
    results.push(await timed(system, run));
  }
  return { ...medianOf(results), runs: results.length };
}

/** Runs a scenario and adds the replicas' own view of request durations. */
async function timed(system, run) {
  const server = serverTimings(system);
  await server();
  const result = await run(system);
  return { ...result, server_side: await server() };
}

const against = values.against?.split(',').map((url) => url.trim().replace(/\/+$/, ''));
if (against && [...wanted].some((name) => !['burst', 'steady', 'fleet', 'types'].includes(name))) {
  throw new Error('--against runs the protocol v1 scenarios only: --scenario burst,steady,fleet,types');
}

if (!['shared', 'private'].includes(values.postgres)) throw new Error('--postgres is shared or private');
const privatePostgres = values.postgres === 'private' ? await startPrivatePostgres() : undefined;
const postgresOption = privatePostgres ? { adminUrl: privatePostgres.url } : {};

async function withSystem(run, options = {}) {
  const system = against
    ? externalSystem(against)
    : await startSystem({ ...shape, ...postgresOption, ...options, env: { ...settings, ...options.env } });
  try {
    return await run(system);
  } finally {
    await system.stop();
  }
}

const report = { machine: { cpus: (await import('node:os')).cpus().length, node: process.version }, scenarios: {} };
const burstOptions = { tasks: Number(values.tasks ?? (values.compare ? 5_000 : 20_000)), agents: Number(values.agents) };

if (values.compare) {
  const { existsSync } = await import('node:fs');
  const names = (values.systems ?? `ceiling,${existsSync(ORIGINAL) ? 'original,' : ''}afm`).split(',').map((name) => name.trim());
  const systems = names.map((name) => ({ name, ...systemOf(name, { ...shape, env: settings }) })).filter((system) => system.start);
  const rounds = new Map(systems.map(({ name }) => [name, []]));
  const running = [];
  try {
    for (const system of systems) {
      log(`compare: starting ${system.label}`);
      const started = await system.start();
      running.push(started);
      system.running = started;
      // One fleet per system for the whole run: an agent of an earlier round never goes silent (the
      // original fails the polls of a fleet whose agents come and go: its cleanup deadlocks).
      system.fleet = Array.from({ length: burstOptions.agents }, () => newAgent());
      log(`compare: warming up ${system.label} with ${values.warmup} tasks`);
      await scenarios.burst(started, { ...burstOptions, tasks: Number(values.warmup), fleet: system.fleet });
    }
    for (let round = 1; round <= runs; round++) {
      for (const system of systems) {
        log(`compare: ${system.label}, round ${round}/${runs}`);
        // A round that fails (a server's wrong answer, a check) is recorded as failed; the run goes on.
        try {
          const result = await scenarios.burst(system.running, { ...burstOptions, fleet: system.fleet });
          rounds.get(system.name).push({
            posts_per_s: result.posts_per_s,
            cycles_per_s: result.cycles_per_s,
            poll_p99_ms: result.routes['POST /tasks']?.p99,
            post_p99_ms: result.routes['POST /task']?.p99,
            server_errors: result.server_errors,
            ...cpuPerTask(result),
          });
          log(`  ${roundFigures(result)}${result.server_errors ? `; ${result.server_errors} × 5xx (${result.server_error_kinds})` : ''}`);
        } catch (error) {
          rounds.get(system.name).push({ failed: String(error.message ?? error).slice(0, 300) });
          log(`  failed: ${error.message}`);
        }
      }
    }
  } finally {
    await Promise.allSettled(running.map((system) => system.stop()));
  }
  const results = systems.map(({ name, label }) => {
    const all = rounds.get(name);
    const measured = all.filter((round) => !round.failed);
    return {
      name,
      label,
      median: measured.length ? medianOf(measured) : {},
      failed_rounds: all.length - measured.length,
      server_errors: measured.reduce((sum, round) => sum + (round.server_errors ?? 0), 0),
      rounds: all,
    };
  });
  const table = compareTable(results);
  if (values.json)
    process.stdout.write(
      `${JSON.stringify({ machine: report.machine, tasks: burstOptions.tasks, agents: burstOptions.agents, runs, results }, null, 2)}\n`,
    );
  else
    process.stdout.write(
      `\n## compare: burst of ${burstOptions.tasks.toLocaleString('en')} tasks, ${burstOptions.agents} agents (max_tasks 5), 64 posters; medians of ${runs} alternating rounds; ${report.machine.cpus} cores, Node ${report.machine.node}\n\n${table}\n`,
    );
  await privatePostgres?.stop();
  process.exit(0);
}

if (['burst', 'steady', 'long-poll', 'fleet', 'types'].some((name) => wanted.has(name)))
  await withSystem(async (system) => {
    if (wanted.has('burst')) report.scenarios.burst = await repeat('burst', system, (s) => scenarios.burst(s, burstOptions));
    if (wanted.has('steady'))
      report.scenarios.steady = await repeat('steady', system, (s) =>
        scenarios.steady(s, { rate: Number(values.rate), agents: Number(values.agents) }),
      );
    if (wanted.has('long-poll'))
      report.scenarios['long-poll'] = await repeat('long-poll', system, (s) => scenarios.longPoll(s, { agents: Number(values.agents) }));
    if (wanted.has('fleet')) report.scenarios.fleet = await timed(system, (s) => scenarios.fleet(s, { agents: Number(values.fleet) }));
    if (wanted.has('types')) report.scenarios.types = await timed(system, (s) => scenarios.types(s, { count: Number(values.types) }));
  });

// Backlog and history are compared with the same system just before it was seeded: same processes,
// same database, minutes apart, so the machine's own drift does not pass for a slowdown.
for (const [name, seed, size] of [
  ['backlog', seedBacklog, Number(values.backlog)],
  ['history', seedHistory, Number(values.history)],
]) {
  if (!wanted.has(name)) continue;
  await withSystem(async (system) => {
    const plain = await repeat(`${name} (before seeding)`, system, (s) => scenarios.burst(s, burstOptions));
    log(`${name}: seeding ${size.toLocaleString('en')} tasks`);
    const started = performance.now();
    await seed(system, { count: size });
    log(`${name}: seeded in ${Math.round((performance.now() - started) / 1000)} s`);
    const result = await repeat(name, system, (s) => scenarios.burst(s, burstOptions));
    report.scenarios[name] = {
      ...result,
      seeded: size,
      before_seeding: { posts_per_s: plain.posts_per_s, cycles_per_s: plain.cycles_per_s },
      slowdown_vs_plain: {
        posts: +(plain.posts_per_s / result.posts_per_s).toFixed(2),
        cycles: +(plain.cycles_per_s / result.cycles_per_s).toFixed(2),
      },
    };
  });
}

// What one insert statement costs Postgres by its rows (why posts are inserted one batch at a time).
if (wanted.has('pg-batches')) {
  for (const [size, rounds] of await pgBatches({ runs, log }))
    report.scenarios[`pg-batches: ${size} rows a statement`] = { ...medianOf(rounds), runs: rounds.length };
}

// A steady load of --rate tasks a second for --minutes, 1,000 agents, one line a minute (issue 14).
if (wanted.has('soak'))
  report.scenarios.soak = await withSystem((system) =>
    scenarios.soak(system, { rate: Number(values.rate), minutes: Number(values.minutes), agents: 1_000, log }),
  );

if (wanted.has('cancel')) report.scenarios.cancel = await withSystem((system) => repeat('cancel', system, (s) => scenarios.cancel(s)));

// REDIS_ACK_REPLICAS: the same scenarios with N = 0 and N = 1 in alternating rounds, on one primary
// with one replica (started here, on free local ports), so the only difference is the WAIT.
if (wanted.has('ack')) {
  const servers = await startPrimaryWithReplica();
  try {
    const rounds = { 0: [], 1: [] };
    for (let round = 1; round <= runs; round++) {
      for (const replicas of [0, 1]) {
        log(`ack: REDIS_ACK_REPLICAS=${replicas}, round ${round}/${runs}`);
        rounds[replicas].push(
          await withSystem(
            async (system) => {
              const parts = new Set(values.parts.split(','));
              const result = {};
              if (parts.has('steady'))
                result.steady = await timed(system, (s) =>
                  scenarios.steady(s, { rate: Number(values.rate), agents: Number(values.agents) }),
                );
              if (parts.has('burst')) result.burst = await timed(system, (s) => scenarios.burst(s, burstOptions));
              if (parts.has('cancel')) result.cancel = await scenarios.cancel(system);
              return result;
            },
            { redisUrl: servers.url, env: { REDIS_ACK_REPLICAS: String(replicas) } },
          ),
        );
      }
    }
    for (const replicas of [0, 1])
      for (const part of values.parts.split(','))
        report.scenarios[`${part} (REDIS_ACK_REPLICAS=${replicas})`] = {
          ...medianOf(rounds[replicas].map((result) => result[part])),
          runs: rounds[replicas].length,
          // Each round's figures too: the median of few rounds hides their spread.
          rounds: rounds[replicas].map((result) => roundFigures(result[part])),
        };
  } finally {
    await servers.stop();
  }
}

// How AFM grows: the burst with 1, 2 and 3 API replicas, then with 1 and 2 workers, alternating.
if (wanted.has('scaling')) {
  const shapes = [
    ['1 replica, 1 worker', { replicas: 1, workers: 1 }],
    ['2 replicas, 1 worker', { replicas: 2, workers: 1 }],
    ['3 replicas, 1 worker', { replicas: 3, workers: 1 }],
    ['2 replicas, 2 workers', { replicas: 2, workers: 2 }],
  ];
  const rounds = new Map(shapes.map(([name]) => [name, []]));
  for (let round = 1; round <= runs; round++) {
    for (const [name, options] of shapes) {
      log(`scaling: ${name}, round ${round}/${runs}`);
      rounds.get(name).push(await withSystem((system) => timed(system, (s) => scenarios.burst(s, burstOptions)), options));
    }
  }
  for (const [name, results] of rounds) report.scenarios[`scaling: ${name}`] = { ...medianOf(results), runs: results.length };
}

// TASK_RETENTION on a history of --history finished tasks, 100 days old: how fast the worker deletes
// them, and what that does to a burst running meanwhile (against the same system before seeding).
if (wanted.has('retention')) {
  const size = Number(values.history);
  await withSystem(
    async (system) => {
      const plain = await repeat('retention (before seeding)', system, (s) => scenarios.burst(s, burstOptions));
      // The worker is stopped while the history goes in, so the deletion is timed from a full table.
      const worker = system.processes.find(({ name }) => name === 'worker');
      process.kill(worker.pid, 'SIGSTOP');
      log(`retention: seeding ${size.toLocaleString('en')} finished tasks, 100 days old`);
      await seedHistory(system, { count: size, ageDays: 100 });
      process.kill(worker.pid, 'SIGCONT');
      const remaining = async () =>
        Number((await system.db.query(`select count(*) as n from tasks where posted_at < now() - interval '90 days'`)).rows[0].n);
      const started = performance.now();
      const samples = [];
      let done = false;
      const watching = (async () => {
        while (!done) {
          samples.push({ s: Math.round((performance.now() - started) / 1000), remaining: await remaining() });
          if (samples.at(-1).remaining === 0) break;
          await sleep(1_000);
        }
      })();
      const during = await repeat('retention (while deleting)', system, (s) => scenarios.burst(s, burstOptions));
      await watching;
      done = true;
      const seconds = samples.at(-1).s;
      // The fastest second: rows per second while a run deletes (runs take at most 5 s of every 10 s).
      const within = Math.max(
        ...samples.slice(1).map((sample, i) => (samples[i].remaining - sample.remaining) / (sample.s - samples[i].s || 1)),
      );
      report.scenarios.retention = {
        history: size,
        deleted_per_s: Math.round(size / seconds),
        deleted_per_s_within_a_run: Math.round(within),
        seconds_to_delete_all: seconds,
        burst_while_deleting: { posts_per_s: during.posts_per_s, cycles_per_s: during.cycles_per_s, routes: during.routes },
        before_seeding: { posts_per_s: plain.posts_per_s, cycles_per_s: plain.cycles_per_s },
        remaining_every_1_s: samples.map(({ s, remaining }) => `${s}s:${remaining}`).join(' '),
        correctness: during.correctness,
      };
    },
    { env: { TASK_RETENTION: '90d' } },
  );
}

/** The soak's minutes as a Markdown table: throughput, errors, p99 per route, memory and sizes. */
function soakTable(rows) {
  const routes = [...new Set(rows.flatMap((row) => Object.keys(row.p99_ms)))].sort();
  const processes = Object.keys(rows[0]?.rss_mb ?? {});
  const head = [
    'min',
    'posted',
    'answered',
    'errors',
    ...routes.map((r) => `${r} p99 ms`),
    ...processes.map((p) => `${p} RSS MB`),
    'Redis MB',
    'Postgres MB',
  ];
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map(
      (row) =>
        `| ${[row.minute, row.posted, row.answered, row.errors, ...routes.map((r) => row.p99_ms[r] ?? '–'), ...processes.map((p) => row.rss_mb[p]), row.redis_mb, row.postgres_mb].join(' | ')} |`,
    ),
  ].join('\n');
}

/**
 * What else each of the soak's minutes held: the client's and the replicas' own p99 of the two routes
 * the server times alone, this generator's event-loop delay, the CPU of every process and of the
 * machine, and Postgres' checkpoints and autovacuum runs.
 */
function soakCausesTable(rows) {
  const groups = Object.keys(rows[0]?.cpu_percent ?? {});
  const head = [
    'min',
    'POST /task p99 ms (client / server)',
    'POST /tasks/response p99 ms (client / server)',
    'generator loop p99 ms',
    ...groups.map((g) => `${g} CPU %`),
    'checkpoints',
    'autovacuums',
  ];
  const server = (value) => (value === Infinity ? '> 5000' : (value ?? '–'));
  const pair = (row, route) => `${row.p99_ms[route] ?? '–'} / ${server(row.server_p99_ms[route])}`;
  return [
    `| ${head.join(' | ')} |`,
    `|${head.map(() => '---').join('|')}|`,
    ...rows.map(
      (row) =>
        `| ${[row.minute, pair(row, 'POST /task'), pair(row, 'POST /tasks/response'), row.generator_loop_p99_ms, ...groups.map((g) => row.cpu_percent[g]), row.checkpoints, row.autovacuums].join(' | ')} |`,
    ),
  ].join('\n');
}

if (values.json) {
  process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
} else {
  const ms = (value) => (value === null || value === undefined ? '–' : `${value.toFixed(1)} ms`);
  for (const [name, result] of Object.entries(report.scenarios)) {
    const lines = [`\n## ${name}`];
    for (const [key, value] of Object.entries(result)) {
      if (
        [
          'routes',
          'latency',
          'server_side',
          'cpu_percent',
          'cpu_percent_posting',
          'cpu_percent_draining',
          'correctness',
          'rss_mb',
          'redis_connections',
          'slowdown_vs_plain',
          'before_seeding',
          'per_minute',
          'late_vs_early',
          'error_samples',
        ].includes(key)
      )
        continue;
      lines.push(`${key.padEnd(28)} ${value}`);
    }
    for (const group of ['latency', 'routes']) {
      if (!result[group]) continue;
      lines.push(
        `${(group === 'routes' ? 'route (client side)' : 'latency').padEnd(36)} ${'n'.padStart(8)} ${'p50'.padStart(10)} ${'p99'.padStart(10)}`,
      );
      for (const [route, stats] of Object.entries(result[group])) {
        lines.push(`${route.padEnd(36)} ${String(stats.n).padStart(8)} ${ms(stats.p50).padStart(10)} ${ms(stats.p99).padStart(10)}`);
      }
    }
    if (result.server_side) {
      lines.push(`${'route (server side, bucket bound)'.padEnd(36)} ${'n'.padStart(8)} ${'p50 ≤'.padStart(10)} ${'p99 ≤'.padStart(10)}`);
      for (const [route, stats] of Object.entries(result.server_side)) {
        if (route.includes('/metrics')) continue;
        lines.push(
          `${route.padEnd(36)} ${String(stats.n).padStart(8)} ${ms(stats.p50_ms_at_most).padStart(10)} ${ms(stats.p99_ms_at_most).padStart(10)}`,
        );
      }
    }
    if (result.per_minute) lines.push('', soakTable(result.per_minute), '', soakCausesTable(result.per_minute), '');
    if (result.error_samples?.length) lines.push(`errors, first ones: ${result.error_samples.join('; ')}`);
    for (const group of [
      'late_vs_early',
      'before_seeding',
      'slowdown_vs_plain',
      'cpu_percent',
      'cpu_percent_posting',
      'cpu_percent_draining',
      'rss_mb',
      'redis_connections',
      'correctness',
    ]) {
      if (!result[group]) continue;
      lines.push(
        `${group}: ${Object.entries(result[group])
          .map(([key, value]) => `${key} ${value}`)
          .join(', ')}`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
}

await privatePostgres?.stop();
