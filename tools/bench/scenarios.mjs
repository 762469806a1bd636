// The benchmark scenarios of issue 6. Each drives the system over HTTP like BPMS clients and agents
// do, measures, and checks correctness: no task delivered twice, none lost, every result right.
import { randomUUID } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { client, Latencies, newAgent, newTask, pool, sleep } from './load.mjs';
import { measureCpu, measureMachineCpu, processGroups, redisConnections, rssMb } from './system.mjs';

/** An idle simulated agent polls again after this (a real one waits until return_time, 60 s). */
const IDLE_POLL_MS = 25;
/** Once its agent has answered, a task is read back this often until the result shows (the e2e figure is at most this late). */
const READ_BACK_MS = 20;

const routeStats = (latencies) => Object.fromEntries(latencies.routes().map((route) => [route, latencies.summary(route)]));

/**
 * Another server (`--against`): every posted task read back through protocol v1's `GET /task/<id>`,
 * until each shows the result its agent sent.
 */
async function verifyOverHttp(system, posted, timeoutMs = 60_000) {
  const http = client(system.replicas, { connections: 32 });
  const deadline = Date.now() + timeoutMs;
  let right = 0;
  try {
    await pool(posted, 32, async (task) => {
      for (;;) {
        const reply = await http.getTask(task.task_id);
        const result = reply.body?.task_result;
        if (reply.status === 200 && result !== undefined && result !== null) {
          if (result.n === task.task_data.n && result.ok === true) right++;
          return;
        }
        if (Date.now() > deadline) return;
        await sleep(100);
      }
    });
  } finally {
    await http.close();
  }
  if (right !== posted.length) throw new Error(`results read back: ${right} right of ${posted.length}`);
  return { stored: posted.length, right };
}

/** Waits until Postgres holds every result, each equal to what its agent sent (`{n}` of the task). */
async function verifyResults(system, type, expected, timeoutMs = 60_000, posted = undefined) {
  if (system.external) return verifyOverHttp(system, posted, timeoutMs);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { rows } = await system.db.query(
      `select count(*) filter (where state = 'completed' and result = jsonb_build_object('n', (task_data->>'n')::int, 'ok', true)) as right,
              count(*) filter (where state = 'completed') as completed,
              count(*) as total
         from tasks where task_type = $1`,
      [type],
    );
    const { right, completed, total } = rows[0];
    if (Number(right) === expected && Number(total) === expected) return { stored: Number(total), right: Number(right) };
    if (Date.now() > deadline)
      throw new Error(`results of ${type}: ${right} right, ${completed} completed, ${total} stored; expected ${expected}`);
    await sleep(100);
  }
}

/** A 5xx is "try again later" (SPEC): tried again after a moment, and counted; anything else but a 200 fails the run. */
async function untilAnswered(what, call, errors) {
  for (let attempt = 1; ; attempt++) {
    const reply = await call();
    if (reply.status === 200) return reply;
    if (reply.status < 500 || attempt === 20)
      throw new Error(`${what} answered ${reply.status}: ${JSON.stringify(reply.body).slice(0, 300)}`);
    errors.count++;
    errors.samples.add(`${what} ${reply.status}`);
    await sleep(50 * attempt);
  }
}

const serverErrors = () => ({ count: 0, samples: new Set() });

/** Agents drain tasks of `types` until `expected` results are accepted; counts every delivery. */
async function drain(
  http,
  {
    types,
    agents,
    fleet = Array.from({ length: agents }, () => newAgent()),
    maxTasks,
    expected,
    deliveries,
    idleMs = 5,
    errors = serverErrors(),
  },
) {
  let answered = 0;
  await Promise.all(
    fleet.map(async (agent) => {
      while (answered < expected) {
        const reply = await untilAnswered('poll', () => http.poll(agent, types, maxTasks), errors);
        const { tasks } = reply.body;
        if (tasks.length === 0) {
          await sleep(idleMs);
          continue;
        }
        await Promise.all(
          tasks.map(async (task) => {
            deliveries.set(task.task_id, (deliveries.get(task.task_id) ?? 0) + 1);
            await untilAnswered('result', () => http.respond(task.task_id, { n: task.task_data.n, ok: true }), errors);
            answered++;
          }),
        );
      }
    }),
  );
}

function checkDeliveries(deliveries, posted) {
  const twice = [...deliveries.values()].filter((count) => count > 1).length;
  const lost = posted.filter((task) => !deliveries.has(task.task_id)).length;
  if (twice || lost) throw new Error(`deliveries wrong: ${twice} delivered more than once, ${lost} never delivered`);
  return { delivered_twice: twice, lost };
}

/**
 * burst: post N tasks, then drain them with A agents (a system that only answers, the HTTP ceiling: posts
 * alone). `fleet`: the agents to drain with, e.g. the same ones in every round, so none goes silent.
 */
export async function burst(system, { tasks = 20_000, agents = 16, fleet, maxTasks = 5, concurrency = 64 } = {}) {
  const latencies = new Latencies();
  const http = client(system.replicas, { connections: concurrency, latencies });
  const type = `burst-${randomUUID().slice(0, 8)}`;
  const posted = Array.from({ length: tasks }, (_, n) => newTask(type, n));
  const cpu = measureCpu(processGroups(system));
  // Each phase's CPU too: what bounds the posts and what bounds the cycles are not the same.
  let cpuPhase = measureCpu(processGroups(system));

  const errors = serverErrors();
  let started = performance.now();
  await pool(posted, concurrency, (task) => untilAnswered('POST /task', () => http.postTask(task), errors));
  const postSeconds = (performance.now() - started) / 1000;
  const cpuPosting = cpuPhase();
  if (system.postsOnly) {
    await http.close();
    return {
      posts_per_s: Math.round(tasks / postSeconds),
      server_errors: errors.count,
      routes: routeStats(latencies),
      cpu_percent_posting: cpuPosting,
    };
  }

  const deliveries = new Map();
  started = performance.now();
  cpuPhase = measureCpu(processGroups(system));
  await drain(http, { types: [type], agents, fleet, maxTasks, expected: tasks, deliveries, errors });
  const drainSeconds = (performance.now() - started) / 1000;
  const cpuDraining = cpuPhase();
  const cpuUse = cpu();
  const correctness = { ...checkDeliveries(deliveries, posted), ...(await verifyResults(system, type, tasks, undefined, posted)) };
  // From the first claim until Postgres holds every result: what the workers keep up with.
  const storedSeconds = (performance.now() - started) / 1000;
  await http.close();
  return {
    posts_per_s: Math.round(tasks / postSeconds),
    cycles_per_s: Math.round(tasks / drainSeconds),
    stored_per_s: Math.round(tasks / storedSeconds),
    // 5xx answers, each tried again (what they were: server_error_kinds).
    server_errors: errors.count,
    server_error_kinds: [...errors.samples].join(', '),
    // CPU time of Redis per task (post, claim, result), from /proc: Redis runs commands on one thread, so
    // one primary is saturated at about 1e6 / this many tasks a second.
    ...(system.external ? {} : { redis_cpu_us_per_task: Math.round(((cpuUse.redis / 100) * (postSeconds + drainSeconds) * 1e6) / tasks) }),
    routes: routeStats(latencies),
    cpu_percent: cpuUse,
    cpu_percent_posting: cpuPosting,
    cpu_percent_draining: cpuDraining,
    correctness,
  };
}

/**
 * steady: tasks posted at a fixed rate while agents drain them; end-to-end latency from POST /task to
 * the result being readable on GET /task/<id> (read back every few ms once the agent has answered).
 */
export async function steady(system, { rate = 500, seconds = 20, agents = 16, maxTasks = 5 } = {}) {
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const latencies = new Latencies();
  const http = client(system.replicas, { connections: 256, latencies });
  const type = `steady-${randomUUID().slice(0, 8)}`;
  const postedAt = new Map();
  const e2e = new Latencies();
  const posted = [];
  let stop = false;
  const cpu = measureCpu(processGroups(system));

  const poster = (async () => {
    const started = performance.now();
    let sent = 0;
    const inflight = new Set();
    while (performance.now() - started < seconds * 1000) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      while (sent < due) {
        const task = newTask(type, sent++);
        posted.push(task);
        const request = (async () => {
          postedAt.set(task.task_id, performance.now());
          const reply = await http.postTask(task);
          if (reply.status !== 200) throw new Error(`POST /task answered ${reply.status}`);
        })();
        inflight.add(request);
        request.finally(() => inflight.delete(request));
      }
      await sleep(2);
    }
    await Promise.all(inflight);
  })();

  const deliveries = new Map();
  const readers = new Set();
  const fleet = Array.from({ length: agents }, () => newAgent());
  const workers = fleet.map(async (agent) => {
    while (!stop || deliveries.size < posted.length) {
      const reply = await http.poll(agent, [type], maxTasks);
      const { tasks } = reply.body;
      if (tasks.length === 0) {
        if (stop && deliveries.size >= posted.length) return;
        await sleep(IDLE_POLL_MS);
        continue;
      }
      for (const task of tasks) {
        deliveries.set(task.task_id, (deliveries.get(task.task_id) ?? 0) + 1);
        e2e.record('dispatch (post → claim)', performance.now() - postedAt.get(task.task_id));
        const reader = (async () => {
          const result = await http.respond(task.task_id, { n: task.task_data.n, ok: true });
          if (result.status !== 200) throw new Error(`result answered ${result.status}`);
          const answeredAt = performance.now();
          for (;;) {
            const view = await http.call('GET /task/:id (read-back)', 'GET', `/task/${task.task_id}`);
            if (view.body?.task_completed) break;
            await sleep(READ_BACK_MS);
          }
          e2e.record('persist (result → readable)', performance.now() - answeredAt);
          e2e.record('end to end (post → readable)', performance.now() - postedAt.get(task.task_id));
        })();
        readers.add(reader);
        reader.finally(() => readers.delete(reader));
      }
    }
  });
  await poster;
  stop = true;
  await Promise.all(workers);
  await Promise.all(readers);
  const cpuUse = cpu();
  loop.disable();
  // AFM's own gauge; another server (`--against`) has none.
  const replicaLag = await Promise.all(
    (system.external ? [] : system.replicas).map(async (url) => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return Number(/^afm_nodejs_eventloop_lag_p99_seconds (\S+)/m.exec(text)?.[1] ?? NaN) * 1000;
    }),
  );
  const correctness = { ...checkDeliveries(deliveries, posted), ...(await verifyResults(system, type, posted.length, undefined, posted)) };
  await http.close();
  return {
    load_generator_loop_delay_p99_ms: Math.round(loop.percentile(99) / 1e6),
    ...(system.external ? {} : { replica_loop_lag_p99_ms: replicaLag.map((ms) => Math.round(ms)).join(' / ') }),
    rate_per_s: rate,
    tasks: posted.length,
    latency: routeStats(e2e),
    routes: routeStats(latencies),
    cpu_percent: cpuUse,
    correctness,
  };
}

/**
 * fleet: many agents polling every few seconds with nothing to do. The first period is a warm-up (every
 * agent registers then) and is not measured.
 */
export async function fleet(system, { agents = 10_000, everyMs = 5_000, seconds = 20 } = {}) {
  const latencies = new Latencies();
  const warmup = new Latencies();
  const http = client(system.replicas, { connections: 64, latencies: warmup });
  const type = `idle-${randomUUID().slice(0, 8)}`;
  let cpu;
  let measuring = false;
  const started = performance.now();
  setTimeout(() => {
    measuring = true;
    cpu = measureCpu(processGroups(system));
  }, everyMs);
  let polls = 0;
  let errors = 0;
  await Promise.all(
    Array.from({ length: agents }, async (_, index) => {
      const agent = newAgent('fleet');
      await sleep((index / agents) * everyMs); // spread the fleet over the period
      while (performance.now() - started < (seconds + everyMs / 1000) * 1000) {
        const began = performance.now();
        const reply = await http.poll(agent, [type], 1);
        if (measuring) latencies.record('POST /tasks', performance.now() - began);
        if (reply.status === 200 && reply.body.tasks.length === 0) polls += measuring ? 1 : 0;
        else errors++;
        await sleep(Math.max(0, everyMs - (performance.now() - began)));
      }
    }),
  );
  const elapsed = seconds;
  const cpuUse = cpu();
  // Another server (`--against`) is checked by its answers alone.
  const active = system.external ? agents : await system.redis.zcard(`${system.prefix}:afm:agents`);
  await http.close();
  if (errors) throw new Error(`${errors} polls failed`);
  return {
    agents,
    poll_every_s: everyMs / 1000,
    polls_per_s: Math.round(polls / elapsed),
    routes: routeStats(latencies),
    cpu_percent: cpuUse,
    correctness: { agents_registered: active >= agents, failed_polls: errors },
  };
}

/** types: 500 task types at once; Redis connections per API replica and memory per process. */
export async function types(system, { count = 500, tasksPerType = 10, agents = 16, maxTasks = 5 } = {}) {
  const latencies = new Latencies();
  const http = client(system.replicas, { connections: 64, latencies });
  const run = randomUUID().slice(0, 6);
  const names = Array.from({ length: count }, (_, i) => `type-${run}-${i}`);
  const posted = names.flatMap((name) => Array.from({ length: tasksPerType }, (_, n) => newTask(name, n)));
  const cpu = measureCpu(processGroups(system));
  let started = performance.now();
  await pool(posted, 64, async (task) => {
    const reply = await http.postTask(task);
    if (reply.status !== 200) throw new Error(`POST /task answered ${reply.status}`);
  });
  const postSeconds = (performance.now() - started) / 1000;
  const deliveries = new Map();
  started = performance.now();
  // Each agent can run every type: one poll looks at all 500 queues.
  await drain(http, { types: names, agents, maxTasks, expected: posted.length, deliveries });
  const drainSeconds = (performance.now() - started) / 1000;
  const cpuUse = cpu();
  const connections = system.external ? {} : await redisConnections(system.redis);
  const memory = Object.fromEntries(system.processes.map(({ name, pid }) => [name, rssMb(pid)]));
  let right = 0;
  if (system.external) right = (await verifyResults(system, null, posted.length, undefined, posted)).right;
  else for (const name of names) right += (await verifyResults(system, name, tasksPerType)).right;
  const correctness = { ...checkDeliveries(deliveries, posted), right };
  await http.close();
  return {
    types: count,
    posts_per_s: Math.round(posted.length / postSeconds),
    cycles_per_s: Math.round(posted.length / drainSeconds),
    redis_connections: Object.fromEntries(
      system.processes.map(({ name, pid }) => [
        name,
        Object.entries(connections)
          .filter(([client]) => client.endsWith(`-${pid}`))
          .reduce((sum, [, n]) => sum + n, 0),
      ]),
    ),
    rss_mb: memory,
    routes: routeStats(latencies),
    cpu_percent: cpuUse,
    correctness,
  };
}

/**
 * long-poll: agents wait on `POST /tasks?wait=10` while tasks are posted at a steady rate; the figure
 * is dispatch latency, from `POST /task` to the waiting agent holding the task.
 */
export async function longPoll(system, { rate = 100, seconds = 20, agents = 16, maxTasks = 5 } = {}) {
  const latencies = new Latencies();
  const http = client(system.replicas, { connections: 128, latencies });
  const type = `longpoll-${randomUUID().slice(0, 8)}`;
  const postedAt = new Map();
  const dispatch = new Latencies();
  const posted = [];
  const deliveries = new Map();
  let stop = false;
  const cpu = measureCpu(processGroups(system));
  const fleet = Array.from({ length: agents }, () => newAgent('longpoll'));
  const workers = fleet.map(async (agent) => {
    while (!stop || deliveries.size < posted.length) {
      const reply = await http.poll(agent, [type], maxTasks, stop ? 0 : 10);
      if (reply.status !== 200) throw new Error(`poll answered ${reply.status}`);
      for (const task of reply.body.tasks) {
        dispatch.record('dispatch (post → waiting agent)', performance.now() - postedAt.get(task.task_id));
        deliveries.set(task.task_id, (deliveries.get(task.task_id) ?? 0) + 1);
        const result = await http.respond(task.task_id, { n: task.task_data.n, ok: true });
        if (result.status !== 200) throw new Error(`result answered ${result.status}`);
      }
      if (stop && reply.body.tasks.length === 0 && deliveries.size >= posted.length) return;
    }
  });
  await sleep(500); // every agent is waiting
  const started = performance.now();
  let sent = 0;
  const inflight = [];
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    while (sent < due) {
      const task = newTask(type, sent++);
      posted.push(task);
      postedAt.set(task.task_id, performance.now());
      inflight.push(http.postTask(task));
    }
    await sleep(2);
  }
  await Promise.all(inflight);
  stop = true;
  await Promise.all(workers);
  const cpuUse = cpu();
  const correctness = { ...checkDeliveries(deliveries, posted), ...(await verifyResults(system, type, posted.length, undefined, posted)) };
  await http.close();
  return {
    rate_per_s: rate,
    tasks: posted.length,
    agents,
    latency: routeStats(dispatch),
    routes: routeStats(latencies),
    cpu_percent: cpuUse,
    correctness,
  };
}

/**
 * cancel: `count` waiting tasks of a type no agent polls, then `DELETE /task/<id>` for each,
 * `concurrency` at a time (the posts are not measured); every task must end failed "cancelled".
 */
export async function cancel(system, { count = 2_000, concurrency = 16 } = {}) {
  const latencies = new Latencies();
  const poster = client(system.replicas, { connections: 64 });
  const http = client(system.replicas, { connections: concurrency, latencies });
  const type = `cancel-${randomUUID().slice(0, 8)}`;
  const tasks = Array.from({ length: count }, (_, n) => newTask(type, n));
  await pool(tasks, 64, async (task) => {
    const reply = await poster.postTask(task);
    if (reply.status !== 200) throw new Error(`POST /task answered ${reply.status}`);
  });
  await pool(tasks, concurrency, async (task) => {
    const reply = await http.call('DELETE /task/:id', 'DELETE', `/task/${task.task_id}`);
    if (reply.status !== 200) throw new Error(`DELETE /task answered ${reply.status}: ${JSON.stringify(reply.body)}`);
  });
  await Promise.all([poster.close(), http.close()]);
  const deadline = Date.now() + 60_000;
  for (;;) {
    const { rows } = await system.db.query(
      `select count(*) filter (where state = 'failed' and error = 'cancelled') as cancelled from tasks where task_type = $1`,
      [type],
    );
    if (Number(rows[0].cancelled) === count) break;
    if (Date.now() > deadline) throw new Error(`cancel: ${rows[0].cancelled} of ${count} stored as cancelled`);
    await sleep(100);
  }
  return { tasks: count, routes: routeStats(latencies), correctness: { cancelled: count } };
}

/**
 * The replicas' own request-duration histograms (`afm_http_request_duration_seconds` on `/metrics`),
 * summed over replicas and status codes: `route` → (bucket bound in s → cumulative count).
 */
export async function serverHistograms(replicas) {
  const sums = new Map();
  for (const url of replicas) {
    const text = await (await fetch(`${url}/metrics`)).text();
    for (const line of text.split('\n')) {
      const match = /^afm_http_request_duration_seconds_bucket\{(.*)\} (\S+)$/.exec(line);
      if (!match) continue;
      const labels = Object.fromEntries([...match[1].matchAll(/(\w+)="([^"]*)"/g)].map(([, key, value]) => [key, value]));
      const route = `${labels.method} ${labels.route}`;
      const buckets = sums.get(route) ?? new Map();
      const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
      buckets.set(le, (buckets.get(le) ?? 0) + Number(match[2]));
      sums.set(route, buckets);
    }
  }
  return sums;
}

/** The p99 of what a route served between two `serverHistograms` readings: the bucket bound it falls under, in ms. */
export function histogramP99(before, after, route) {
  const now = after.get(route);
  if (!now) return null;
  const bounds = [...now.keys()].sort((a, b) => a - b);
  const count = (le) => now.get(le) - (before.get(route)?.get(le) ?? 0);
  const total = count(Infinity);
  if (total === 0) return null;
  const bound = bounds.find((le) => count(le) >= 0.99 * total);
  return bound === Infinity ? Infinity : Math.round(bound * 1000);
}

/** Postgres' checkpoints and the autovacuum runs on AFM's tables so far, to tell them apart by minute. */
async function postgresActivity(db) {
  const { rows } = await db.query(
    `select (select checkpoints_timed + checkpoints_req from pg_stat_bgwriter) as checkpoints,
            (select coalesce(sum(autovacuum_count + autoanalyze_count), 0) from pg_stat_user_tables) as autovacuums`,
  );
  return { checkpoints: Number(rows[0].checkpoints), autovacuums: Number(rows[0].autovacuums) };
}

/**
 * soak (issue 14): tasks posted at a steady `rate` for `minutes` while a fleet of `agents` runs them —
 * half poll every `pollEveryS` seconds, half long-poll (`?wait=10`) — with one line per minute: tasks
 * posted and answered, errors, p99 of each route in that minute, the RSS of every AFM process, Redis'
 * memory and the database's size. At the end every task must have been delivered once and stored right.
 */
export async function soak(system, { rate = 500, minutes = 30, agents = 1_000, pollEveryS = 2, maxTasks = 5, log = () => {} } = {}) {
  // A connection for every request the fleet and the poster can have in flight at once, as a real
  // fleet of separate hosts has: a pool smaller than that makes requests queue in this generator, and
  // their wait shows as the server's (a first version had 256 per replica, which 500 long polls held).
  const inFlight = agents * maxTasks + rate;
  const http = client(system.replicas, { connections: Math.ceil(inFlight / system.replicas.length) });
  const type = `soak-${randomUUID().slice(0, 8)}`;
  const deliveries = new Map();
  const posted = [];
  let window = { latencies: new Latencies(), posted: 0, answered: 0, errors: 0 };
  const errorSamples = [];
  const timed = async (route, call) => {
    const started = performance.now();
    const reply = await call().catch((error) => ({ status: 0, body: { error: String(error) } }));
    window.latencies.record(route, performance.now() - started);
    if (reply.status !== 200) {
      window.errors++;
      if (errorSamples.length < 10) errorSamples.push(`${route} ${reply.status} ${JSON.stringify(reply.body).slice(0, 200)}`);
    }
    return reply;
  };
  const durationMs = minutes * 60_000;
  const started = performance.now();
  const posting = () => performance.now() - started < durationMs;
  const answer = (tasks) =>
    Promise.all(
      tasks.map(async (task) => {
        deliveries.set(task.task_id, (deliveries.get(task.task_id) ?? 0) + 1);
        const reply = await timed('POST /tasks/response', () => http.respond(task.task_id, { n: task.task_data.n, ok: true }));
        if (reply.status === 200) window.answered++;
      }),
    );
  // Accepted posts only (a 200); the agents stop once each was delivered and every post has answered.
  let postsAnswered = false;
  const done = () => postsAnswered && deliveries.size >= posted.length;

  const fleet = Array.from({ length: agents }, (_, index) => ({ ...newAgent('soak'), long: index % 2 === 1 }));
  const running = fleet.map(async (agent, index) => {
    await sleep((index / agents) * pollEveryS * 1000); // spread the fleet over a period
    while (!done()) {
      const began = performance.now();
      const reply = await timed(agent.long ? 'POST /tasks?wait' : 'POST /tasks', () =>
        http.poll(agent, [type], maxTasks, agent.long && posting() ? 10 : undefined),
      );
      const tasks = reply.status === 200 ? reply.body.tasks : [];
      await answer(tasks);
      // A short-polling agent with nothing to do comes back a period later; one that got work, at once.
      if (tasks.length === 0 && (!agent.long || !posting())) await sleep(Math.max(0, pollEveryS * 1000 - (performance.now() - began)));
    }
  });

  const poster = (async () => {
    let sent = 0;
    const inflight = new Set();
    while (posting()) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      while (sent < due) {
        const task = newTask(type, sent++);
        const request = timed('POST /task', () => http.postTask(task)).then((reply) => {
          if (reply.status !== 200) return;
          posted.push(task);
          window.posted++;
        });
        inflight.add(request);
        request.finally(() => inflight.delete(request));
      }
      await sleep(2);
    }
    await Promise.all(inflight);
    postsAnswered = true;
  })();

  const minutesReport = [];
  // What else each minute held, to find what a slow minute's tail came from: the CPU of every process
  // and of the machine, this generator's own event-loop delay (a late generator shows as a slow
  // server), the replicas' own view of their requests, and Postgres' checkpoints and autovacuums.
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  let cpu = measureCpu(processGroups(system));
  let machine = measureMachineCpu();
  let served = await serverHistograms(system.replicas);
  let pgBefore = await postgresActivity(system.db);
  const sampler = (async () => {
    for (let minute = 1; minute <= minutes; minute++) {
      await sleep(Math.max(0, started + minute * 60_000 - performance.now()));
      const current = window;
      window = { latencies: new Latencies(), posted: 0, answered: 0, errors: 0 };
      const cpuPercent = cpu();
      const machinePercent = machine();
      cpu = measureCpu(processGroups(system));
      machine = measureMachineCpu();
      const loopP99 = loop.percentile(99) / 1e6;
      loop.reset();
      const servedNow = await serverHistograms(system.replicas);
      const pgNow = await postgresActivity(system.db);
      const memory = await system.redis.info('memory');
      const { rows } = await system.db.query('select pg_database_size(current_database()) as bytes');
      const row = {
        minute,
        posted: current.posted,
        answered: current.answered,
        errors: current.errors,
        p99_ms: Object.fromEntries(current.latencies.routes().map((route) => [route, Math.round(current.latencies.summary(route).p99)])),
        // Long polls share `POST /tasks` with short ones on the server side, so only these two are told.
        server_p99_ms: Object.fromEntries(
          ['POST /task', 'POST /tasks/response'].map((route) => [route, histogramP99(served, servedNow, route)]),
        ),
        generator_loop_p99_ms: Math.round(loopP99),
        cpu_percent: { ...cpuPercent, machine: machinePercent },
        checkpoints: pgNow.checkpoints - pgBefore.checkpoints,
        autovacuums: pgNow.autovacuums - pgBefore.autovacuums,
        rss_mb: Object.fromEntries(system.processes.map(({ name, pid }) => [name, rssMb(pid)])),
        // The generator's own, so that a generator that dies of its heap shows the climb first.
        generator_heap_mb: Math.round(process.memoryUsage().heapUsed / 1048576),
        redis_mb: Math.round(Number(/used_memory:(\d+)/.exec(memory)[1]) / 1048576),
        postgres_mb: Math.round(Number(rows[0].bytes) / 1048576),
      };
      served = servedNow;
      pgBefore = pgNow;
      minutesReport.push(row);
      log(`soak: ${JSON.stringify(row)}`);
    }
  })();

  await poster;
  await Promise.all([sampler, ...running]);
  loop.disable();
  // Reported, not thrown: the minutes are worth keeping when a check fails.
  let correctness;
  try {
    correctness = { ...checkDeliveries(deliveries, posted), ...(await verifyResults(system, type, posted.length, 300_000)) };
  } catch (error) {
    correctness = { failed: String(error) };
  }
  await http.close();
  const errors = minutesReport.reduce((sum, row) => sum + row.errors, 0);
  // A trend is the last third of the minutes against the middle third: the first third warms up, and
  // finished tasks' Redis tombstones (10 minutes) accumulate until then.
  const mean = (rows, value) => rows.reduce((sum, row) => sum + value(row), 0) / rows.length;
  const third = Math.floor(minutesReport.length / 3);
  const early = minutesReport.slice(third, 2 * third);
  const late = minutesReport.slice(2 * third);
  const trend = (value) => (early.length && late.length ? +(mean(late, value) / mean(early, value)).toFixed(2) : null);
  return {
    minutes,
    rate_per_s: rate,
    agents,
    tasks: posted.length,
    errors,
    error_samples: errorSamples,
    // Mean of the last third of the minutes ÷ mean of the middle third: 1 is flat.
    late_vs_early: {
      ...Object.fromEntries(system.processes.map(({ name }) => [`rss ${name}`, trend((row) => row.rss_mb[name])])),
      'redis memory': trend((row) => row.redis_mb),
      'POST /task p99': trend((row) => row.p99_ms['POST /task'] ?? 0),
      'POST /tasks p99': trend((row) => row.p99_ms['POST /tasks'] ?? 0),
    },
    per_minute: minutesReport,
    correctness,
  };
}
