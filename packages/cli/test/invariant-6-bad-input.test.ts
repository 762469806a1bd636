// SPEC §4 invariant 6 — bad input gets a clear 4xx, never a 5xx or a crash. Hundreds of malformed
// requests, derived from valid ones, to every route of both replicas.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, newTask, pollBody } from './support/client.js';
import { startSystem, type System } from './support/system.js';

let s: System;
beforeAll(async () => {
  s = await startSystem('inv6');
});
afterAll(() => s.close());

/** A deterministic pseudo-random source, so a failure can be replayed. */
function random(seed: number) {
  return () => {
    seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
    return seed / 2 ** 31;
  };
}

const WEIRD_VALUES: unknown[] = [null, true, 0, -1, 1.5, 2 ** 53, -(2 ** 40), '', 'x', '1', [], [1], {}, { a: 1 }, 'ä'.repeat(300), '\u0000', randomUUID()];

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
          const reply = await call(n % 2 ? s.a.url : s.b.url, route.method, route.path, typeof body === 'string' ? body : JSON.stringify(body));
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
    expect((await call(s.a.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { k: 'ok' } })).status).toBe(200);
  });
});
