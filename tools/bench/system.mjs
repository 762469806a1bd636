// The system under benchmark: its own database and Redis prefix, the topology of tools/topology.mjs
// (two API replicas + one worker) or a given URL, and per-process CPU and memory from /proc.
import { spawn, execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { Redis } from 'ioredis';

const TOPOLOGY = fileURLToPath(new URL('../topology.mjs', import.meta.url));
const ADMIN = process.env.AFM_BENCH_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS = process.env.AFM_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379/0';
const TICKS = 100; // clock ticks per second in /proc/<pid>/stat

/** A port of 127.0.0.1 nothing listens on (the system picks it, then lets it go). */
export const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

export async function startSystem({
  port = 18_000 + 10 * Math.floor(Math.random() * 200),
  env = {},
  replicas = 2,
  workers = 1,
  redisUrl = REDIS,
  // Another checkout's topology (`--systems afm@DIR`): AFM as built there, e.g. before a change.
  topology = TOPOLOGY,
  // An admin connection to the Postgres server to create the database on (`--postgres private`).
  adminUrl = ADMIN,
} = {}) {
  const id = randomBytes(4).toString('hex');
  const database = `afm_bench_${id}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`create database ${database}`);
  await admin.end();
  const dbUrl = new URL(adminUrl);
  dbUrl.pathname = `/${database}`;
  // The simulated agents poll again the moment they have answered — ~40 times a second each at full
  // load, where real agents poll every AGENT_RETURN_TIME — so the per-agent poll limit is off.
  const config = {
    DATABASE_URI: dbUrl.toString(),
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: `bench-${id}`,
    LOG_LEVEL: 'warn',
    POLL_RATE_LIMIT: '0',
    ...env,
  };

  const child = spawn(process.execPath, [topology, '--port', String(port), '--replicas', String(replicas), '--workers', String(workers)], {
    env: { ...process.env, ...config },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const ready = await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`topology exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (line.startsWith('{"event":"ready"')) resolve(JSON.parse(line));
    });
  });
  const db = new pg.Pool({ connectionString: config.DATABASE_URI, max: 4 });
  const redis = new Redis(redisUrl);
  return {
    config,
    db,
    redis,
    prefix: config.QUEUE_PREFIX,
    replicas: ready.processes.filter((p) => p.url).map((p) => p.url),
    processes: ready.processes.map(({ name, pid }) => ({ name, pid })),
    async stop() {
      await new Promise((resolve) => {
        child.once('exit', resolve);
        child.kill('SIGTERM');
      });
      await db.end();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.QUEUE_PREFIX}:*`, 'COUNT', 5000);
        cursor = next;
        if (keys.length) await redis.unlink(...keys);
      } while (cursor !== '0');
      await redis.quit();
      const cleanup = new pg.Client({ connectionString: adminUrl });
      await cleanup.connect();
      await cleanup.query(`drop database if exists ${database} with (force)`);
      await cleanup.end();
    },
  };
}

function cpuTicks(pid) {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
}

export function rssMb(pid) {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((l) => l.startsWith('VmRSS:'));
    return Math.round(Number(line.split(/\s+/)[1]) / 1024);
  } catch {
    return null;
  }
}

export const pidsOf = (name) => {
  try {
    return execFileSync('pgrep', ['-x', name], { encoding: 'utf8' }).trim().split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
};

/**
 * A server this benchmark did not start (`--against`): only protocol v1 over HTTP — no database, no
 * Redis, no processes of its own to measure.
 */
export function externalSystem(urls) {
  return { external: true, replicas: urls, processes: [], async stop() {} };
}

/** Every process that does the work: AFM's, Redis, Postgres (all backends), and this load generator. */
export function processGroups(system) {
  // A server started here but not AFM (the ceiling, the original) names its own processes.
  if (system.groups) return [...system.groups, { name: 'load generator', pids: () => [process.pid] }];
  if (system.external) return [{ name: 'load generator', pids: () => [process.pid] }];
  return [
    ...system.processes.map(({ name, pid }) => ({ name, pids: () => [pid] })),
    { name: 'redis', pids: () => pidsOf('redis-server') },
    { name: 'postgres', pids: () => pidsOf('postgres') },
    { name: 'load generator', pids: () => [process.pid] },
  ];
}

/** Starts measuring the whole machine's CPU; the returned function gives its busy share in % of all cores. */
export function measureMachineCpu() {
  const read = () => {
    const [, ...fields] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).map(Number);
    const idle = fields[3] + fields[4]; // idle + iowait
    return { idle, total: fields.reduce((sum, value) => sum + value, 0) };
  };
  const before = read();
  return () => {
    const after = read();
    const total = after.total - before.total;
    return total > 0 ? Math.round((100 * (total - (after.idle - before.idle))) / total) : 0;
  };
}

/** Starts measuring CPU; the returned function gives each group's CPU use in % of one core. */
export function measureCpu(groups) {
  const started = performance.now();
  const before = groups.map((group) => {
    const pids = group.pids();
    return new Map(pids.map((pid) => [pid, cpuTicks(pid)]));
  });
  return () => {
    const seconds = (performance.now() - started) / 1000;
    return Object.fromEntries(
      groups.map((group, index) => {
        let ticks = 0;
        // A process that started during the measurement (a new Postgres backend) counts from zero.
        for (const pid of group.pids()) ticks += cpuTicks(pid) - (before[index].get(pid) ?? 0);
        return [group.name, Math.round((100 * ticks) / TICKS / seconds)];
      }),
    );
  };
}

/** Redis connections per AFM process, by the client names AFM gives them. */
export async function redisConnections(redis) {
  const list = await redis.client('LIST');
  const counts = {};
  for (const line of String(list).split('\n')) {
    const name = /name=(\S*)/.exec(line)?.[1];
    if (name) counts[name] = (counts[name] ?? 0) + 1;
  }
  return counts;
}

/**
 * Server-side request durations per route, summed over the replicas' Prometheus histograms since the
 * previous call: p50 and p99 as bucket upper bounds (what the load generator's own delays do not touch).
 */
export function serverTimings(system) {
  let previous = new Map();
  if (system.external) return async () => undefined;
  return async () => {
    const buckets = new Map();
    for (const url of system.replicas) {
      const text = await (await fetch(`${url}/metrics`)).text();
      for (const match of text.matchAll(
        /^afm_http_request_duration_seconds_bucket\{le="([^"]+)",method="(\w+)",route="([^"]+)",status_code="2\d\d"\} (\d+)/gm,
      )) {
        const key = `${match[2]} ${match[3]}|${match[1]}`;
        buckets.set(key, (buckets.get(key) ?? 0) + Number(match[4]));
      }
    }
    const delta = new Map([...buckets].map(([key, count]) => [key, count - (previous.get(key) ?? 0)]));
    previous = buckets;
    const routes = {};
    for (const [key, count] of delta) {
      const [route, le] = key.split('|');
      (routes[route] ??= []).push([le === '+Inf' ? Infinity : Number(le), count]);
    }
    const result = {};
    for (const [route, list] of Object.entries(routes)) {
      list.sort((a, b) => a[0] - b[0]);
      const total = list[list.length - 1][1];
      if (!total) continue;
      const bound = (q) => list.find(([, count]) => count >= q * total)?.[0];
      result[route] = { n: total, p50_ms_at_most: bound(0.5) * 1000, p99_ms_at_most: bound(0.99) * 1000 };
    }
    return result;
  };
}
