#!/usr/bin/env node
// The docker-compose topology without Docker: a load balancer on PORT in front of N `slamon-afm run`
// replicas, one `slamon-afm worker`, after a one-shot `slamon-afm migrate` — all as child processes,
// configured by the environment (DATABASE_URI, REDIS_URL, …). For local use and for the tests.
//
//   node tools/topology.mjs [--port 8080] [--replicas 2] [--workers 1] [--host 127.0.0.1]
//
// It prints one JSON line when ready ({"event":"ready","lb":URL,"processes":[{name,pid,url}]}) and one
// per child that exits. SIGTERM or SIGINT stops the balancer, then every child with SIGTERM. A line
// `stop NAME` on standard input (a pipe, not a terminal) stops one replica as a Kubernetes rollout
// does: out of the balancer's rotation first, then SIGTERM. The balancer (balancer.mjs) retries like
// the nginx of deploy/nginx.conf.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { createBalancer } from './balancer.mjs';

const { values } = parseArgs({
  options: {
    port: { type: 'string', default: '8080' },
    replicas: { type: 'string', default: '2' },
    workers: { type: 'string', default: '1' },
    host: { type: 'string', default: '127.0.0.1' },
  },
});
const BIN = fileURLToPath(new URL('../packages/cli/bin/slamon-afm.js', import.meta.url));
const lbPort = Number(values.port);
const host = values.host;
const say = (event) => process.stdout.write(`${JSON.stringify(event)}\n`);

// Node flags for the children: by default the heap limits of the Docker image (BENCHMARKS.md, memory);
// AFM_NODE_ARGS replaces them, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof" to profile.
const NODE_ARGS = (process.env.AFM_NODE_ARGS ?? '--max-semi-space-size=4 --max-old-space-size=96').split(' ').filter(Boolean);

function run(name, args) {
  const child = spawn(process.execPath, [...NODE_ARGS, BIN, ...args], {
    env: { ...process.env, AUTO_CREATE: 'false' },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  child.on('exit', (code, signal) => say({ event: 'exit', name, pid: child.pid, code, signal }));
  return child;
}

async function waitUntil(check, what, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const migrate = run('migrate', ['migrate']);
const migrated = await new Promise((resolve) => migrate.on('exit', (code) => resolve(code)));
if (migrated !== 0) process.exit(1);

const replicas = Array.from({ length: Number(values.replicas) }, (_, index) => {
  const port = lbPort + 1 + index;
  return { name: `api-${index + 1}`, port, url: `http://${host}:${port}`, child: run(`api-${index + 1}`, ['run', host, String(port)]) };
});
const workers = Array.from({ length: Number(values.workers) }, (_, index) => ({
  name: index === 0 ? 'worker' : `worker-${index + 1}`,
  child: run(index === 0 ? 'worker' : `worker-${index + 1}`, ['worker']),
}));
await Promise.all(replicas.map((replica) => waitUntil(async () => (await fetch(`${replica.url}/healthz`)).ok, replica.name)));

const balancer = createBalancer({ host, replicas });
await new Promise((resolve) => balancer.listen(lbPort, host, resolve));

say({
  event: 'ready',
  lb: `http://${host}:${lbPort}`,
  processes: [
    ...replicas.map(({ name, child, url }) => ({ name, pid: child.pid, url })),
    ...workers.map(({ name, child }) => ({ name, pid: child.pid })),
  ],
});

// Not from a terminal: a run in the background of a shell would be stopped by reading it.
if (!process.stdin.isTTY)
  createInterface({ input: process.stdin }).on('line', async (line) => {
    const [command, name] = line.trim().split(/\s+/);
    const replica = replicas.find((candidate) => candidate.name === name);
    if (command !== 'stop' || !replica) return void process.stderr.write(`topology: unknown command ${JSON.stringify(line)}\n`);
    await balancer.withdraw(replica.port);
    replica.child.kill('SIGTERM');
  });

const children = [...replicas.map((replica) => replica.child), ...workers.map((worker) => worker.child)];
const stop = async () => {
  balancer.close();
  balancer.closeAllConnections();
  await Promise.all(
    children.map((child) =>
      child.exitCode !== null || child.signalCode !== null
        ? undefined
        : new Promise((resolve) => {
            child.once('exit', resolve);
            child.kill('SIGTERM');
          }),
    ),
  );
  process.exit(0);
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
