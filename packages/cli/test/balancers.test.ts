// Issue 11: the balancers in front of AFM retry only what is safe to repeat. The nginx of
// deploy/nginx.conf (run for real from Debian's nginx, with the replicas' addresses put in) and the
// balancer of tools/topology.mjs are put in front of two stand-in replicas: one that takes every
// request and dies before answering (or answers 503), one that answers. A task post, a result and the
// routes that read or cancel must reach the second; a poll must never be sent twice — it may have
// claimed tasks on the first.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from '@afm/shared/testing/wait';
import { freePort } from './support/topology.js';

const NGINX = process.env.AFM_TEST_NGINX ?? '/usr/sbin/nginx';
const root = (path: string) => new URL(`../../../${path}`, import.meta.url).pathname;

interface StandIn {
  port: number;
  /** Requests that reached it, as `METHOD path`. */
  seen: string[];
  server: Server;
}

/** A replica that reads each request, then dies on it (`reset`) or answers 503, or one that answers 200. */
async function standIn(behaviour: 'reset' | '503' | 'ok'): Promise<StandIn> {
  const seen: string[] = [];
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      seen.push(`${request.method} ${request.url}`);
      if (behaviour === 'reset') request.socket.destroy();
      else if (behaviour === '503') response.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"AFM_ERR_UNAVAILABLE"}');
      else response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, seen, server };
}

const ROUTES: [method: string, path: string, safe: boolean][] = [
  ['POST', '/task', true],
  ['POST', '/task/', true],
  ['POST', '/tasks/response', true],
  ['GET', '/task/6f1f9a4e-2b9c-4d3e-8f7a-1b2c3d4e5f60', true],
  ['DELETE', '/task/6f1f9a4e-2b9c-4d3e-8f7a-1b2c3d4e5f60', true],
  ['POST', '/tasks', false],
  ['POST', '/tasks/', false],
  ['POST', '/tasks?wait=5', false],
  ['POST', '/api/tasks', false],
];

const send = async (lb: string, method: string, path: string) => {
  const response = await fetch(lb + path, {
    method,
    ...(method === 'POST' ? { body: '{}', headers: { 'content-type': 'application/json' } } : {}),
  });
  await response.text();
  return response.status;
};

/**
 * Sends each route through the balancer until a request of it met the failing stand-in first, and
 * checks that request: a safe one was passed on to the answering stand-in and answered 200; any other
 * was not sent again, and the client got the failure.
 */
async function check(lb: string, failing: StandIn, answering: StandIn, behaviour: 'reset' | '503') {
  for (const [method, path, safe] of ROUTES) {
    let met = false;
    for (let attempt = 0; attempt < 4 && !met; attempt++) {
      const before = { failing: failing.seen.length, answering: answering.seen.length };
      const status = await send(lb, method, path);
      met = failing.seen.length > before.failing;
      const passedOn = answering.seen.length > before.answering;
      if (!met) expect(status, `${method} ${path} straight to the answering replica`).toBe(200);
      else if (safe) expect([status, passedOn], `${method} ${path} after a ${behaviour}: passed on`).toEqual([200, true]);
      else {
        expect(passedOn, `${method} ${path} after a ${behaviour}: not sent again`).toBe(false);
        expect(status).not.toBe(200);
      }
    }
    expect(met, `${method} ${path} met the failing replica`).toBe(true);
  }
}

describe('the nginx of deploy/nginx.conf', () => {
  let nginx: ChildProcess | undefined;
  const standIns: StandIn[] = [];
  let lb = '';

  async function start(behaviour: 'reset' | '503') {
    const failing = await standIn(behaviour);
    const answering = await standIn('ok');
    standIns.push(failing, answering);
    if (!existsSync(NGINX)) throw new Error(`this test runs Debian's nginx at ${NGINX}: apt-get install -y nginx (.ci/run does this)`);
    const dir = mkdtempSync(join(tmpdir(), 'afm-nginx-'));
    const port = await freePort();
    // The shipped file, with local addresses for the compose service names, and a failed replica kept
    // in rotation (max_fails=0) so that every other request meets it.
    const conf = readFileSync(root('deploy/nginx.conf'), 'utf8')
      .replace('server api-1:8080 max_fails=1 fail_timeout=5s;', `server 127.0.0.1:${failing.port} max_fails=0;`)
      .replace('server api-2:8080 max_fails=1 fail_timeout=5s;', `server 127.0.0.1:${answering.port} max_fails=0;`)
      .replace('listen 8080;', `listen 127.0.0.1:${port};`)
      .replace('worker_processes auto;', `worker_processes 1;\npid ${dir}/nginx.pid;\nerror_log ${dir}/error.log;`)
      .replace(
        'http {',
        `http {\n  client_body_temp_path ${dir}/body;\n  proxy_temp_path ${dir}/proxy;\n  fastcgi_temp_path ${dir}/fastcgi;\n  uwsgi_temp_path ${dir}/uwsgi;\n  scgi_temp_path ${dir}/scgi;`,
      );
    expect(conf).toContain(`127.0.0.1:${failing.port}`);
    writeFileSync(join(dir, 'nginx.conf'), conf);
    nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'inherit' });
    lb = `http://127.0.0.1:${port}`;
    await waitFor(async () => (await fetch(`${lb}/task/x`).then((response) => response.status)) > 0, {
      timeoutMs: 10_000,
      what: 'nginx to listen',
    });
    return { failing, answering };
  }

  afterAll(async () => {
    nginx?.kill('SIGTERM');
    await Promise.all(standIns.map((s) => new Promise((resolve) => s.server.close(resolve))));
  });

  it('passes on safe repeats after a replica died mid-request, never a poll', async () => {
    const { failing, answering } = await start('reset');
    await check(lb, failing, answering, 'reset');
    nginx!.kill('SIGTERM');
  });

  it('passes on safe repeats after a 503, never a poll', async () => {
    const { failing, answering } = await start('503');
    await check(lb, failing, answering, '503');
  });
});

describe('the balancer of tools/topology.mjs', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  });

  const load = async () =>
    (await import(root('tools/balancer.mjs'))) as {
      createBalancer(options: { host: string; replicas: { port: number }[] }): Server & { withdraw(port: number): Promise<void> };
      neverSent(error: NodeJS.ErrnoException, reusedSocket?: boolean): boolean;
    };

  async function start(behaviour: 'reset' | '503' | 'ok') {
    const failing = await standIn(behaviour);
    const answering = await standIn('ok');
    const { createBalancer } = await load();
    const balancer = createBalancer({ host: '127.0.0.1', replicas: [failing, answering] });
    const port = await freePort();
    await new Promise<void>((resolve) => balancer.listen(port, '127.0.0.1', resolve));
    servers.push(failing.server, answering.server, balancer);
    return { lb: `http://127.0.0.1:${port}`, failing, answering };
  }

  it('passes on safe repeats after a replica died mid-request, never a poll', async () => {
    const { lb, failing, answering } = await start('reset');
    await check(lb, failing, answering, 'reset');
  });

  it('passes on every 503 but that of POST /api/tasks (AFM\'s "retry later")', async () => {
    const { lb, failing } = await start('503');
    for (const [method, path] of ROUTES) {
      const before = failing.seen.length;
      const statuses = [await send(lb, method, path), await send(lb, method, path)].sort();
      expect(failing.seen.length - before, `${method} ${path}: round robin`).toBe(1);
      expect(statuses, `${method} ${path}`).toEqual(path === '/api/tasks' ? [200, 503] : [200, 200]);
    }
  });

  it('passes on any request whose connection failed while connecting: nothing of it was sent', async () => {
    const { neverSent } = await load();
    // A real one: a port nobody listens on.
    const refused = await fetch(`http://127.0.0.1:${await freePort()}/tasks`, { method: 'POST' }).catch((error: Error) => error.cause);
    expect(neverSent(refused as NodeJS.ErrnoException)).toBe(true);
    // What Node reports when a replica that stops listening resets a connection not yet accepted.
    const reset = Object.assign(new Error('connect ECONNRESET 127.0.0.1:1'), { code: 'ECONNRESET', syscall: 'connect' });
    expect(neverSent(reset)).toBe(true);
    // Reset once the request was written: a poll may have claimed tasks, and is not passed on.
    const cut = Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' });
    expect([neverSent(cut), neverSent(cut, true)]).toEqual([false, true]);
  });

  it('withdraws a replica: no new request reaches it, and it can then stop without a reset', async () => {
    const { lb, failing: withdrawn, answering } = await start('ok');
    const balancer = servers.at(-1) as Server & { withdraw(port: number): Promise<void> };
    const before = Array.from({ length: 4 }, () => send(lb, 'POST', '/tasks'));
    await balancer.withdraw(withdrawn.port);
    expect(await Promise.all(before)).toEqual([200, 200, 200, 200]);
    const seen = withdrawn.seen.length;
    for (let i = 0; i < 4; i++) expect(await send(lb, 'POST', '/tasks')).toBe(200);
    expect([withdrawn.seen.length, answering.seen.length]).toEqual([seen, 8 - seen]);
    await new Promise((resolve) => withdrawn.server.close(resolve));
    expect(await send(lb, 'POST', '/tasks')).toBe(200);
  });
});
