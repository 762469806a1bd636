// Invariant 6 — bad input gets a clear 4xx, never a 5xx or a crash. Hundreds of malformed
// requests, derived from valid ones, to every route of both replicas.
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newTask, pollBody } from './support/client.js';
import { startSystem, type System } from './support/system.js';
import { freePort, spawnReplica, type AfmProcess } from './support/topology.js';

let s: System;
let replica: AfmProcess & { url: string };
beforeAll(async () => {
  s = await startSystem('inv6');
  // A replica of its own process: a request that could end it would end it for real.
  replica = await spawnReplica(s.env.config, await freePort(), { POLL_RATE_LIMIT: '0' });
});
afterAll(async () => {
  await replica?.kill('SIGTERM');
  await s.close();
});

/** A deterministic pseudo-random source, so a failure can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const WEIRD_VALUES: unknown[] = [
  null,
  true,
  0,
  -1,
  1.5,
  2 ** 53,
  -(2 ** 40),
  '',
  'x',
  '1',
  [],
  [1],
  {},
  { a: 1 },
  'ä'.repeat(300),
  '\u0000',
  randomUUID(),
];

function mutate(valid: Record<string, unknown>, next: () => number): unknown {
  const keys = Object.keys(valid);
  const pick = <T>(items: T[]) => items[Math.floor(next() * items.length)]!;
  const copy: Record<string, unknown> = structuredClone(valid);
  switch (Math.floor(next() * 6)) {
    case 0:
      delete copy[pick(keys)];
      return copy;
    case 1:
      copy[pick(keys)] = pick(WEIRD_VALUES);
      return copy;
    case 2:
      copy[`extra_${Math.floor(next() * 10)}`] = pick(WEIRD_VALUES);
      return copy;
    case 3:
      return pick(WEIRD_VALUES);
    case 4: {
      const nested = pick(keys);
      copy[nested] = { [pick(['version', 'country', 'x', ''])]: pick(WEIRD_VALUES) };
      return copy;
    }
    default:
      return JSON.stringify(copy).slice(0, Math.floor(next() * JSON.stringify(copy).length));
  }
}

describe('invariant 6: bad input never gets a 5xx', () => {
  it('answers every malformed request with a JSON 4xx naming the problem', async () => {
    const next = random(42);
    const routes = [
      { method: 'POST', path: '/task', valid: () => newTask('fuzz') as Record<string, unknown> },
      { method: 'POST', path: '/tasks', valid: () => pollBody(['fuzz'], 1) as Record<string, unknown> },
      { method: 'POST', path: '/tasks/response', valid: () => ({ protocol: 1, task_id: randomUUID(), task_data: {} }) },
      { method: 'POST', path: '/tasks/response', valid: () => ({ protocol: 1, task_id: randomUUID(), task_error: 'e' }) },
    ];
    const failures: string[] = [];
    for (let round = 0; round < 150; round++) {
      await Promise.all(
        routes.map(async (route, n) => {
          const body = mutate(route.valid(), next);
          const reply = await call(
            n % 2 ? s.a.url : s.b.url,
            route.method,
            route.path,
            typeof body === 'string' ? body : JSON.stringify(body),
          );
          const ok =
            (reply.status === 200 && route.path !== '/tasks/response') ||
            (reply.status >= 400 && reply.status < 500 && typeof reply.body?.error === 'string' && typeof reply.body?.message === 'string');
          if (!ok) failures.push(`${route.path} ${JSON.stringify(body)?.slice(0, 200)} → ${reply.status} ${reply.text.slice(0, 200)}`);
        }),
      );
    }
    for (const path of ['/task/not-a-uuid', '/task/%00', `/task/${'a'.repeat(5000)}`, '/tasks/response/extra', '/../etc/passwd']) {
      const reply = await call(s.a.url, 'GET', path);
      if (!(reply.status >= 400 && reply.status < 500 && reply.body?.message)) failures.push(`GET ${path.slice(0, 40)} → ${reply.status}`);
    }
    expect(failures).toEqual([]);
    expect((await call(s.a.url, 'GET', '/status')).status).toBe(200);
  });

  it('refuses unstorable results of a claimed task with 400, and the task still takes a valid one', async () => {
    const type = `nul-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    expect((await call(s.a.url, 'POST', '/task', task)).status).toBe(200);
    const claimed = await call(s.b.url, 'POST', '/tasks', pollBody([type], 1));
    expect(claimed.body.tasks).toHaveLength(1);
    const nul = await call(s.a.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { k: 'a\u0000b' } });
    expect(nul.status).toBe(400);
    expect(nul.body.message).toContain('body.task_data.k');
    const surrogate = await call(s.b.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_error: '\ud800' });
    expect(surrogate.status).toBe(400);
    expect(surrogate.body.message).toContain('body.task_error');
    const name = await call(s.a.url, 'POST', '/tasks', { ...pollBody([type], 1), agent_name: 'x\u0000' });
    expect(name.status).toBe(400);
    expect(name.body.message).toContain('body.agent_name');
    expect((await call(s.a.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { k: 'ok' } })).status).toBe(
      200,
    );
  });
});

/** Sends raw bytes and returns what came back before the server closed (or 2 s passed). */
function raw(url: string, bytes: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    let received = '';
    const socket = connect(Number(port), hostname, () => socket.write(bytes));
    socket.on('data', (chunk) => (received += chunk));
    socket.on('error', () => resolve(received));
    socket.on('close', () => resolve(received));
    setTimeout(() => socket.destroy(), 2_000).unref();
  });
}

describe('invariant 6: no single request ends a process (issue 11)', () => {
  const alive = () => replica.child.exitCode === null && replica.child.signalCode === null;

  it('answers the requests that took a replica down with a clear 4xx, and keeps serving', async () => {
    const many = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`type-${i}`, { version: 1 }]));
    const cases: { what: string; path: string; body: string; status: number; message: RegExp }[] = [
      {
        what: '20,500 capabilities',
        path: '/tasks',
        body: JSON.stringify({ ...pollBody([], 1), agent_capabilities: many(20_500) }),
        status: 400,
        message: /agent_capabilities: must name at most/,
      },
      {
        what: '20,500 capabilities and a location',
        path: '/tasks',
        body: JSON.stringify({ ...pollBody([], 1), agent_capabilities: many(20_500), agent_location: { country: 'FI', region: '18' } }),
        status: 400,
        message: /agent_capabilities/,
      },
      {
        what: 'task_data 3,130 levels deep',
        path: '/task',
        body: JSON.stringify({ ...newTask('deep'), task_data: {} }).replace(
          '"task_data":{}',
          `"task_data":${'{"a":'.repeat(3_130)}1${'}'.repeat(3_130)}`,
        ),
        status: 400,
        message: /JSON_DEPTH_LIMIT/,
      },
      {
        what: 'a result 100,000 levels deep',
        path: '/tasks/response',
        body: `{"protocol":1,"task_id":"${randomUUID()}","task_data":${'['.repeat(100_000)}${']'.repeat(100_000)}}`,
        status: 400,
        message: /JSON_DEPTH_LIMIT/,
      },
      {
        what: 'a __proto__ key',
        path: '/task',
        body: JSON.stringify({ ...newTask('proto'), task_data: {} }).replace(
          '"task_data":{}',
          '"task_data":{"__proto__":{"polluted":true}}',
        ),
        status: 400,
        message: /__proto__/,
      },
    ];
    for (const { what, path, body, status, message } of cases) {
      const reply = await call(replica.url, 'POST', path, body);
      expect(reply.status, `${what}: ${reply.text.slice(0, 200)}`).toBe(status);
      expect(reply.body?.message, what).toMatch(message);
      expect(alive(), `the replica survives ${what}`).toBe(true);
    }
    expect((await call(replica.url, 'GET', '/healthz')).status).toBe(200);
    expect(replica.output()).not.toMatch(/uncaught|RangeError|Maximum call stack/i);
  });

  it('lets a client see the 413 of a body far over BODY_LIMIT, sent whole or after asking (Expect: 100-continue)', async () => {
    const body = Buffer.alloc(50 * 1024 * 1024, 0x61);
    const response = await fetch(`${replica.url}/task`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(response.status).toBe(413);
    expect(((await response.json()) as { message: string }).message).toMatch(/BODY_LIMIT/);
    const asked = await raw(
      replica.url,
      `POST /task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nExpect: 100-continue\r\n\r\n`,
    );
    expect(asked).toMatch(/^HTTP\/1.1 413 /);
    expect(asked).not.toMatch(/100 Continue/);
    expect(asked).toMatch(/"code":"AFM_ERR_PAYLOAD_TOO_LARGE"/);
    expect(alive()).toBe(true);
  });

  it('answers a request without Host in JSON like any other bad request', async () => {
    const answer = await raw(replica.url, 'GET /status HTTP/1.1\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1.1 400 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({
      code: 'AFM_ERR_VALIDATION',
      message: expect.stringMatching(/host/i),
    });
    // HTTP/1.0 has no Host header: it is served.
    expect(await raw(replica.url, 'GET /healthz HTTP/1.0\r\n\r\n')).toMatch(/^HTTP\/1.1 200 /);
  });
});
