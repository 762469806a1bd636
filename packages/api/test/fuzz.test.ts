// Issue 8 / SPEC §4 invariant 6, property-based: thousands of random and mutated bodies, headers and
// paths to every route — never a 5xx, never a crash, every 4xx a JSON error with error and message.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { openApiDeps } from '../src/deps.js';
import { startApiHarness, type ApiHarness } from './harness.js';

let open: ApiHarness;
let secured: { app: Awaited<ReturnType<typeof buildApp>>; close(): Promise<void> };
beforeAll(async () => {
  open = await startApiHarness('fuzz');
  const deps = await openApiDeps({ ...open.env.config, ADMIN_TOKENS: 'admin-token-0123456789abcdef', AGENT_TOKENS: 'agent-token-0123456789abcdef' }, open.env.logger);
  const app = await buildApp(deps);
  secured = { app, close: async () => (await app.close(), await deps.close()) };
});
afterAll(async () => {
  await secured.close();
  await open.close();
});

const uuid = fc.uuid().map((id) => id);
const validBodies = {
  '/task': () => ({ task_id: randomUUID(), test_id: randomUUID(), task_type: 'fuzz', task_version: 1, task_data: { a: 1 } }),
  '/tasks': () => ({ protocol: 1, agent_id: randomUUID(), agent_name: 'f', agent_time: 't', agent_capabilities: { fuzz: { version: 1 } }, max_tasks: 1 }),
  '/tasks/response': () => ({ protocol: 1, task_id: randomUUID(), task_data: {} }),
  '/api/tasks': () => ({ task_type: 'fuzz', task_version: 1 }),
};

/** A valid body with one field replaced, removed or added, or the whole body replaced. */
const mutatedBody = fc
  .tuple(fc.constantFrom(...(Object.keys(validBodies) as (keyof typeof validBodies)[])), fc.nat(), fc.anything({ maxDepth: 3 }), fc.string(), fc.nat(3))
  .map(([route, pick, value, key, how]) => {
    const body: Record<string, unknown> = validBodies[route]();
    const keys = Object.keys(body);
    const field = keys[pick % keys.length]!;
    if (how === 0) body[field] = value;
    else if (how === 1) delete body[field];
    else if (how === 2) body[key || 'extra'] = value;
    else return value;
    return body;
  });

const path = fc.oneof(
  fc.constantFrom('/task', '/task/', '/tasks', '/tasks/', '/tasks/response', '/status', '/healthz', '/readyz', '/metrics', '/api/summary', '/api/tasks', '/api/queues', '/api/agents', '/docs/json', '/dashboard'),
  uuid.map((id) => `/task/${id}`),
  uuid.map((id) => `/api/tests/${id}`),
  fc.tuple(fc.constantFrom('/task/', '/api/tasks/', '/api/agents/', '/tasks?wait=', '/api/tasks?limit=', '/api/tasks?state=', '/task/x?wait=', '/api/tasks?cursor='), fc.string({ maxLength: 40 })).map(
    ([prefix, tail]) => prefix + encodeURIComponent(tail),
  ),
  fc.webPath().map((p) => p || '/'),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'),
  url: path,
  body: fc.oneof(mutatedBody.map((body) => JSON.stringify(body) ?? ''), fc.json(), fc.string({ maxLength: 200 }), fc.constant(''), fc.constant('{"a":')),
  contentType: fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/x-www-form-urlencoded', '', 'garbage/☃'),
  authorization: fc.option(fc.oneof(fc.constant('Bearer admin-token-0123456789abcdef'), fc.constant('Bearer agent-token-0123456789abcdef'), fc.string({ maxLength: 40 })), { nil: undefined }),
});

type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

async function check(app: typeof secured.app, r: FuzzRequest) {
  const withBody = !['GET', 'HEAD', 'OPTIONS'].includes(r.method);
  const response = await app.inject({
    method: r.method as 'GET',
    url: r.url,
    headers: { ...(r.contentType ? { 'content-type': r.contentType } : {}), ...(r.authorization ? { authorization: r.authorization } : {}) },
    ...(withBody ? { payload: r.body } : {}),
  });
  expect(response.statusCode, `${r.method} ${r.url} ${r.body.slice(0, 100)} → ${response.body.slice(0, 200)}`).toBeLessThan(500);
  if (response.statusCode >= 400 && r.method !== 'HEAD') {
    const body = response.json();
    expect(typeof body.error).toBe('string');
    expect(typeof body.message).toBe('string');
  }
}

describe('fuzzing every route', () => {
  it('never answers 5xx, and every 4xx is a JSON error (authentication off)', async () => {
    await fc.assert(fc.asyncProperty(request, (r) => check(open.app, r)), { numRuns: 2_500, seed: 20261125 });
  });

  it('never answers 5xx, and every 4xx is a JSON error (authentication on)', async () => {
    await fc.assert(fc.asyncProperty(request, (r) => check(secured.app, r)), { numRuns: 1_500, seed: 1125 });
  });

  it('accepts what it should: valid bodies still work after the fuzzing', async () => {
    const response = await open.app.inject({ method: 'POST', url: '/task', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(validBodies['/task']()) });
    expect(response.statusCode).toBe(200);
  });
});
