// Issue 8 / invariant 6, property-based: thousands of random and mutated bodies, headers and
// paths to every route — never a 5xx, never a crash, every 4xx a JSON error with error and message.
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_POLL_DATA_BYTES } from '@afm/shared/dispatch/scripts';
import { MAX_AGENT_NAME_LENGTH, MAX_AGENT_TIME_LENGTH, MAX_CAPABILITIES } from '@afm/shared/protocol';
import { BUDGET_WAIT_MS } from '../src/http/body.js';
import { BodyBudget } from '../src/http/budget.js';
import { buildApp } from '../src/app.js';
import { openApiDeps } from '../src/deps.js';
import { startApiHarness, type ApiHarness } from './harness.js';

let open: ApiHarness;
let secured: { app: Awaited<ReturnType<typeof buildApp>>; close(): Promise<void> };
beforeAll(async () => {
  open = await startApiHarness('fuzz');
  const deps = await openApiDeps(
    { ...open.env.config, ADMIN_TOKENS: 'admin-token-0123456789abcdef', AGENT_TOKENS: 'agent-token-0123456789abcdef' },
    open.env.logger,
  );
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
  '/tasks': () => ({
    protocol: 1,
    agent_id: randomUUID(),
    agent_name: 'f',
    agent_time: 't',
    agent_capabilities: { fuzz: { version: 1 } },
    max_tasks: 1,
  }),
  '/tasks/response': () => ({ protocol: 1, task_id: randomUUID(), task_data: {} }),
  '/api/tasks': () => ({ task_type: 'fuzz', task_version: 1 }),
};

/** A valid body with one field replaced, removed or added, or the whole body replaced. */
const mutatedBody = fc
  .tuple(
    fc.constantFrom(...(Object.keys(validBodies) as (keyof typeof validBodies)[])),
    fc.nat(),
    fc.anything({ maxDepth: 3 }),
    fc.string(),
    fc.nat(3),
  )
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
  fc.constantFrom(
    '/task',
    '/task/',
    '/tasks',
    '/tasks/',
    '/tasks/response',
    '/status',
    '/healthz',
    '/readyz',
    '/metrics',
    '/metrics/fleet',
    '/api/summary',
    '/api/tasks',
    '/api/queues',
    '/api/agents',
    '/docs/json',
    '/dashboard',
  ),
  uuid.map((id) => `/task/${id}`),
  uuid.map((id) => `/api/tests/${id}`),
  fc
    .tuple(
      fc.constantFrom(
        '/task/',
        '/api/tasks/',
        '/api/agents/',
        '/tasks?wait=',
        '/api/tasks?limit=',
        '/api/tasks?state=',
        '/task/x?wait=',
        '/api/tasks?cursor=',
      ),
      fc.string({ maxLength: 40 }),
    )
    .map(([prefix, tail]) => prefix + encodeURIComponent(tail)),
  fc.webPath().map((p) => p || '/'),
);

const request = fc.record({
  method: fc.constantFrom('GET', 'POST', 'DELETE', 'PUT', 'PATCH', 'HEAD', 'OPTIONS'),
  url: path,
  body: fc.oneof(
    mutatedBody.map((body) => JSON.stringify(body) ?? ''),
    fc.json(),
    fc.string({ maxLength: 200 }),
    fc.constant(''),
    fc.constant('{"a":'),
  ),
  contentType: fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'text/plain',
    'application/x-www-form-urlencoded',
    '',
    'garbage/☃',
  ),
  authorization: fc.option(
    fc.oneof(
      fc.constant('Bearer admin-token-0123456789abcdef'),
      fc.constant('Bearer agent-token-0123456789abcdef'),
      fc.string({ maxLength: 40 }),
    ),
    { nil: undefined },
  ),
});

type FuzzRequest = typeof request extends fc.Arbitrary<infer T> ? T : never;

async function check(app: typeof secured.app, r: FuzzRequest) {
  const withBody = !['GET', 'HEAD', 'OPTIONS'].includes(r.method);
  const response = await app.inject({
    method: r.method as 'GET',
    url: r.url,
    headers: {
      ...(r.contentType ? { 'content-type': r.contentType } : {}),
      ...(r.authorization ? { authorization: r.authorization } : {}),
    },
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
    await fc.assert(
      fc.asyncProperty(request, (r) => check(open.app, r)),
      { numRuns: 2_500, seed: 20261125 },
    );
  });

  it('never answers 5xx, and every 4xx is a JSON error (authentication on)', async () => {
    await fc.assert(
      fc.asyncProperty(request, (r) => check(secured.app, r)),
      { numRuns: 1_500, seed: 1125 },
    );
  });

  it('accepts what it should: valid bodies still work after the fuzzing', async () => {
    const response = await open.app.inject({
      method: 'POST',
      url: '/task',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(validBodies['/task']()),
    });
    expect(response.statusCode).toBe(200);
  });
});

// Issue 11: the largest and deepest inputs the limits allow, and just past them. Each answers a clear
// 4xx naming the limit, at once; none may cost the process its stack or a second of CPU.
describe('the worst inputs the limits allow', () => {
  const post = (url: string, payload: string) =>
    open.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json' }, payload });
  const poll = (extra: Record<string, unknown>) => JSON.stringify({ ...validBodies['/tasks'](), ...extra });
  const capabilities = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`type-${i}`, { version: 1 }]));
  const nested = (depth: number, leaf = '1') => '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
  const expectRefusal = (response: { statusCode: number; json(): { code: string; message: string } }, status: number, message: RegExp) => {
    expect(response.statusCode, JSON.stringify(response.json())).toBe(status);
    expect(response.json().message).toMatch(message);
  };

  it(`bounds the capabilities of a poll at ${MAX_CAPABILITIES}, however many are sent (20,500 took a replica down)`, async () => {
    expect(
      (await post('/tasks', poll({ agent_capabilities: capabilities(MAX_CAPABILITIES), agent_location: { country: 'FI', region: '18' } })))
        .statusCode,
    ).toBe(200);
    for (const n of [MAX_CAPABILITIES + 1, 20_500, 35_000]) {
      expectRefusal(
        await post('/tasks', poll({ agent_capabilities: capabilities(n) })),
        400,
        new RegExp(`body.agent_capabilities: must name at most ${MAX_CAPABILITIES} task types`),
      );
    }
  });

  it('bounds agent_name and agent_time', async () => {
    expectRefusal(
      await post('/tasks', poll({ agent_name: 'n'.repeat(MAX_AGENT_NAME_LENGTH + 1) })),
      400,
      /body.agent_name: must be at most/,
    );
    expectRefusal(
      await post('/tasks', poll({ agent_time: 't'.repeat(MAX_AGENT_TIME_LENGTH + 1) })),
      400,
      /body.agent_time: must be at most/,
    );
    expect(
      (await post('/tasks', poll({ agent_name: 'n'.repeat(MAX_AGENT_NAME_LENGTH), agent_time: 't'.repeat(MAX_AGENT_TIME_LENGTH) })))
        .statusCode,
    ).toBe(200);
  });

  it('refuses JSON nested deeper than JSON_DEPTH_LIMIT in every body, naming the field, before parsing it (3,130 levels were a 500)', async () => {
    const depth = open.env.config.JSON_DEPTH_LIMIT;
    const task = (data: string) =>
      `{"task_id":"${randomUUID()}","test_id":"${randomUUID()}","task_type":"deep","task_version":1,"task_data":${data}}`;
    // The body is one level; task_data may use the rest.
    expect((await post('/task', task(nested(depth - 1)))).statusCode).toBe(200);
    for (const levels of [depth, 3_130, 100_000, 150_000]) {
      const started = performance.now();
      expectRefusal(
        await post('/task', task(nested(levels))),
        400,
        new RegExp(`^body.task_data: JSON nested more than ${depth} levels deep \\(JSON_DEPTH_LIMIT\\)`),
      );
      expect(performance.now() - started, 'no JSON.parse of a deep body').toBeLessThan(2_000);
    }
    expectRefusal(
      await post('/tasks/response', `{"protocol":1,"task_id":"${randomUUID()}","task_data":${'['.repeat(200_000)}${']'.repeat(200_000)}}`),
      400,
      /^body.task_data: JSON nested/,
    );
    expectRefusal(await post('/tasks', '['.repeat(300_000)), 400, /^body: JSON nested/);
    // Brackets inside strings are text, not nesting.
    expect((await post('/task', task(JSON.stringify({ text: '[{'.repeat(5_000) })))).statusCode).toBe(200);
  });

  it('finds an unstorable string however deep it sits, without recursion', async () => {
    const depth = open.env.config.JSON_DEPTH_LIMIT - 1;
    const response = await post(
      '/task',
      `{"task_id":"${randomUUID()}","test_id":"${randomUUID()}","task_type":"deep","task_version":1,"task_data":${nested(depth, '"\\u0000"')}}`,
    );
    expectRefusal(response, 400, /^body.task_data(\.a)+: must not contain \\u0000/);
  });

  it('refuses a key named __proto__ anywhere instead of dropping it', async () => {
    const task = (data: string) =>
      `{"task_id":"${randomUUID()}","test_id":"${randomUUID()}","task_type":"proto","task_version":1,"task_data":${data}}`;
    expectRefusal(
      await post('/task', task('{"__proto__":{"x":1}}')),
      400,
      /^body.task_data.__proto__: a key named "__proto__" is not accepted/,
    );
    expectRefusal(await post('/task', task('{"a":[{"__proto__":1}]}')), 400, /^body.task_data.a\[0\].__proto__:/);
    expectRefusal(await post('/task', task('{"\\u005f_proto__":{"x":1}}')), 400, /__proto__/);
    expectRefusal(
      await post('/tasks/response', `{"protocol":1,"task_id":"${randomUUID()}","task_data":{"__proto__":null}}`),
      400,
      /^body.task_data.__proto__:/,
    );
    // A key that merely contains the word is data like any other.
    expect((await post('/task', task('{"my__proto__":1,"constructor":{"prototype":1}}'))).statusCode).toBe(200);
  });

  it('never answers 5xx to random deep and wide JSON as task_data or a result', async () => {
    const value = fc.letrec((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.jsonValue({ maxDepth: 2 }),
        fc.array(tie('node'), { maxLength: 3 }),
        fc.dictionary(fc.string(), tie('node'), { maxKeys: 3 }),
      ),
    })).node;
    const deep = fc.tuple(fc.nat(120), fc.constantFrom('{"k":', '[', '{"__proto__":'), value).map(([levels, open, leaf]) => {
      const close = open === '[' ? ']' : '}';
      return open.repeat(levels) + JSON.stringify(leaf) + close.repeat(levels);
    });
    await fc.assert(
      fc.asyncProperty(deep, fc.boolean(), async (data, asResult) => {
        const body = asResult
          ? `{"protocol":1,"task_id":"${randomUUID()}","task_data":${data}}`
          : `{"task_id":"${randomUUID()}","test_id":"${randomUUID()}","task_type":"fuzz","task_version":1,"task_data":${data}}`;
        const response = await post(asResult ? '/tasks/response' : '/task', body);
        expect(response.statusCode, `${body.slice(0, 120)} → ${response.body.slice(0, 200)}`).toBeLessThan(500);
        if (response.statusCode >= 400) expect(typeof response.json().message).toBe('string');
      }),
      { numRuns: 400, seed: 11 },
    );
  });
});

describe('memory bounds (issue 11)', () => {
  const json = (body: unknown) => ({ headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });

  it('shares a body budget first come, first served, and gives every share back', async () => {
    const budget = new BodyBudget(100);
    const first = await budget.reserve(60, 1_000);
    const order: string[] = [];
    const large = budget.reserve(70, 1_000).then((release) => (order.push('large'), release));
    const small = budget.reserve(10, 1_000).then((release) => (order.push('small'), release));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(order, 'a small body does not overtake a large one waiting before it').toEqual([]);
    first!();
    first!(); // twice changes nothing
    const [l, s] = await Promise.all([large, small]);
    expect(order).toEqual(['large', 'small']);
    expect(budget.inUse).toBe(80);
    l!();
    s!();
    expect(budget.inUse).toBe(0);
    expect(await new BodyBudget(10).reserve(1_000, 10), 'a body larger than the budget takes it all, alone').toBeTypeOf('function');
    const full = new BodyBudget(10);
    await full.reserve(10, 10);
    expect(await full.reserve(1, 50), 'no share within the wait').toBeUndefined();
  });

  it('answers 503 with Retry-After to a body that finds the budget taken for 5 s, and serves it again once freed', async () => {
    const app = await buildApp({ ...open.deps, bodyBudget: 300 });
    try {
      const type = `bud-${randomUUID().slice(0, 6)}`;
      const poll = { ...validBodies['/tasks'](), agent_capabilities: { [type]: { version: 1 } } };
      // A long poll holds its body's share while it waits.
      const holding = app.inject({ method: 'POST', url: '/tasks?wait=7', ...json(poll) });
      await new Promise((resolve) => setTimeout(resolve, 200));
      const started = performance.now();
      const shed = await app.inject({ method: 'POST', url: '/tasks', ...json({ ...poll, agent_id: randomUUID() }) });
      expect(shed.statusCode).toBe(503);
      expect(shed.headers['retry-after']).toBe('1');
      expect(shed.json().message).toMatch(/^busy: /);
      expect(performance.now() - started).toBeGreaterThanOrEqual(BUDGET_WAIT_MS - 100);
      expect((await holding).statusCode).toBe(200);
      expect((await app.inject({ method: 'POST', url: '/tasks', ...json(poll) })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('answers 408 to a body that stops arriving, and gives its share back', async () => {
    const app = await buildApp({ ...open.deps, bodyBudget: 2_000, bodyReadMs: 300 });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as { port: number };
      const { connect } = await import('node:net');
      const stalled = await new Promise<string>((resolve) => {
        let received = '';
        const socket = connect(port, '127.0.0.1', () =>
          socket.write('POST /task HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1500\r\n\r\n{"task_id":'),
        );
        socket.on('data', (chunk) => (received += chunk));
        socket.on('close', () => resolve(received));
      });
      expect(stalled).toMatch(/^HTTP\/1.1 408 /);
      expect(stalled).toMatch(/"code":"AFM_ERR_REQUEST_TIMEOUT"/);
      // Its 1,500 bytes are free again: a body that needs them is served at once.
      const response = await fetch(`http://127.0.0.1:${port}/task`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ ...validBodies['/task'](), task_data: { pad: 'p'.repeat(1_200) } }),
      });
      expect(response.status).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('hands out at most MAX_POLL_DATA_BYTES of task_data per poll, the first task whatever its size', async () => {
    const type = `big-${randomUUID().slice(0, 6)}`;
    const blob = 'x'.repeat(250_000);
    for (let n = 0; n < 5; n++) {
      const response = await open.app.inject({
        method: 'POST',
        url: '/task',
        ...json({ ...validBodies['/task'](), task_type: type, task_data: { blob, n } }),
      });
      expect(response.statusCode).toBe(200);
    }
    const poll = { ...validBodies['/tasks'](), agent_capabilities: { [type]: { version: 1 } }, max_tasks: 10 };
    const first = (await open.app.inject({ method: 'POST', url: '/tasks', ...json(poll) })).json().tasks;
    expect(first.length * 250_000).toBeLessThanOrEqual(MAX_POLL_DATA_BYTES);
    expect(first.map((task: { task_data: { n: number } }) => task.task_data.n)).toEqual([0, 1, 2, 3]);
    expect((await open.app.inject({ method: 'POST', url: '/tasks', ...json(poll) })).json().tasks).toHaveLength(1);
  });
});
