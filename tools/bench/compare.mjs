// `npm run bench -- --compare` (issue 14): one load generator, several servers, alternating rounds in
// one run. The systems: the HTTP ceiling (ceiling.mjs, a bare Fastify answering `{}`), the original
// Python AFM (../shared/reference/run-original.sh, when it is there), AFM as built in this checkout,
// AFM as built in another checkout (`afm@DIR`, e.g. a worktree of the commit before a change), and any
// protocol v1 URL. Each is started once, warmed up, then measured round after round, so drift of the
// machine over the run falls on every system alike.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { externalSystem, freePort, pidsOf, startSystem } from './system.mjs';
import { execFileSync } from 'node:child_process';
import { sleep } from './load.mjs';

const CEILING = fileURLToPath(new URL('./ceiling.mjs', import.meta.url));
export const ORIGINAL = fileURLToPath(new URL('../../../shared/reference/run-original.sh', import.meta.url));

/** Waits until `url` answers HTTP at all (any status), or the child exits. */
async function answering(url, child, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  let exited = null;
  child.once('exit', (code) => (exited = code));
  for (;;) {
    if (exited !== null) throw new Error(`${url}: the server exited with ${exited} before it answered`);
    try {
      await fetch(url);
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`${url} did not answer within ${timeoutMs / 1000} s`);
      await sleep(250);
    }
  }
}

const stopChild = (child) =>
  new Promise((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done();
    child.once('exit', done);
    child.kill('SIGTERM');
  });

/** `replicas` bare Fastify processes, like AFM's replicas behind a balancer (the client round-robins). */
async function startCeiling(replicas) {
  const children = [];
  const urls = [];
  for (let i = 0; i < replicas; i++) {
    const port = await freePort();
    const child = spawn(process.execPath, [CEILING, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise((ready, fail) => {
      child.once('exit', (code) => fail(new Error(`ceiling exited with ${code}`)));
      createInterface({ input: child.stdout }).once('line', ready);
    });
    urls.push(`http://127.0.0.1:${port}`);
  }
  return {
    ...externalSystem(urls),
    groups: [{ name: 'ceiling', pids: () => children.map((child) => child.pid) }],
    postsOnly: true,
    async stop() {
      await Promise.all(children.map(stopChild));
    },
  };
}

/** The original, served by gunicorn on a fresh database until stopped (the script drops it then). */
async function startOriginal() {
  const port = await freePort();
  const child = spawn('bash', [ORIGINAL, String(port)], { stdio: ['ignore', 'inherit', 'inherit'] });
  const url = `http://127.0.0.1:${port}`;
  // Its first start installs Debian packages.
  await answering(`${url}/status`, child, 600_000);
  // gunicorn's master and its workers: every descendant of the script.
  const descendants = (pid) => {
    let direct = [];
    try {
      direct = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .filter(Boolean)
        .map(Number);
    } catch {}
    return direct.flatMap((child) => [child, ...descendants(child)]);
  };
  return {
    ...externalSystem([url]),
    groups: [
      { name: 'original', pids: () => descendants(child.pid) },
      { name: 'postgres', pids: () => pidsOf('postgres') },
    ],
    stop: () => stopChild(child),
  };
}

/** One system of `--systems`: its label and how to start it. */
export function systemOf(name, { replicas, workers, env }) {
  if (name === 'ceiling') return { label: 'HTTP ceiling (bare Fastify)', start: () => startCeiling(replicas) };
  if (name === 'original') {
    if (!existsSync(ORIGINAL)) return null;
    return { label: 'original (gunicorn, 4 workers)', start: startOriginal };
  }
  if (name === 'afm')
    return { label: `AFM (${replicas} replicas + ${workers} worker)`, start: () => startSystem({ replicas, workers, env }) };
  if (name.startsWith('afm@')) {
    const checkout = resolve(name.slice(4));
    const topology = `${checkout}/tools/topology.mjs`;
    if (!existsSync(topology)) throw new Error(`${name}: no tools/topology.mjs in ${checkout}`);
    return { label: `AFM of ${checkout}`, start: () => startSystem({ replicas, workers, env, topology }) };
  }
  if (/^https?:\/\//.test(name)) return { label: name, start: async () => externalSystem([name.replace(/\/+$/, '')]) };
  throw new Error(`--systems: ${name} is not ceiling, original, afm, afm@DIR or a URL`);
}

/**
 * CPU time of the server's processes (all but the load generator) per post and per cycle, in µs, from
 * a burst's CPU of each phase: what a system spends on a task, whatever else the machine was doing.
 */
export function cpuPerTask(result) {
  const server = (percent) =>
    percent ? Object.entries(percent).reduce((sum, [name, value]) => (name === 'load generator' ? sum : sum + value), 0) : undefined;
  const per = (percent, rate) => (percent === undefined || !rate ? undefined : Math.round((percent / 100 / rate) * 1e6));
  return {
    cpu_us_per_post: per(server(result.cpu_percent_posting), result.posts_per_s),
    cpu_us_per_cycle: per(server(result.cpu_percent_draining), result.cycles_per_s),
  };
}

/** The comparison table: each system's medians, its ratio to the original and its share of the ceiling. */
export function compareTable(results) {
  const original = results.find((result) => result.name === 'original');
  const ceiling = results.find((result) => result.name === 'ceiling');
  const fixed = (value, digits = 0) => (typeof value === 'number' ? value.toFixed(digits) : '–');
  const ratio = (a, b) => (typeof a === 'number' && typeof b === 'number' && b > 0 ? `${(a / b).toFixed(1)}×` : '–');
  const rows = [
    '| system | posts/s | cycles/s | poll p99 | POST /task p99 | posts ÷ original | cycles ÷ original | poll p99, original ÷ this | posts ÷ ceiling | CPU µs a post | CPU µs a cycle | 5xx (retried) | failed rounds |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const result of results) {
    const m = result.median;
    const self = result === original;
    rows.push(
      `| ${result.label} | ${fixed(m.posts_per_s)} | ${fixed(m.cycles_per_s)} | ${m.poll_p99_ms === undefined ? '–' : `${fixed(m.poll_p99_ms, 1)} ms`} | ${fixed(m.post_p99_ms, 1)} ms | ${self ? '1×' : ratio(m.posts_per_s, original?.median.posts_per_s)} | ${self ? '1×' : ratio(m.cycles_per_s, original?.median.cycles_per_s)} | ${self ? '1×' : ratio(original?.median.poll_p99_ms, m.poll_p99_ms)} | ${result === ceiling ? '1' : ceiling ? fixed(m.posts_per_s / ceiling.median.posts_per_s, 2) : '–'} | ${fixed(m.cpu_us_per_post)} | ${fixed(m.cpu_us_per_cycle)} | ${result.server_errors} | ${result.failed_rounds} |`,
    );
  }
  return rows.join('\n');
}
