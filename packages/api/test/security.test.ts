// Issue 8: authentication by role (off unless configured), token binding, limits with JSON errors.
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Tokens } from '@afm/shared/auth';
import { ConfigError, loadConfig } from '@afm/shared/config';
import { waitFor } from '@afm/shared/testing/wait';
import { buildApp } from '../src/app.js';
import { startApiHarness, type ApiHarness } from './harness.js';

const AGENT = 'agent-token-0123456789abcdef';
const BOUND_AGENT_ID = randomUUID();
const BOUND = 'bound-agent-token-0123456789';
const BPMS = 'bpms-token-0123456789abcdef';
const ADMIN = 'admin-token-0123456789abcdef';
const logLines: string[] = [];

let h: ApiHarness;
let app: Awaited<ReturnType<typeof buildApp>>;
beforeAll(async () => {
  h = await startApiHarness('security', {
    AGENT_TOKENS: `${AGENT},${BOUND}@${BOUND_AGENT_ID}`,
    BPMS_TOKENS: BPMS,
    ADMIN_TOKENS: ADMIN,
    BODY_LIMIT: '4096',
    TASK_DATA_LIMIT: '1024',
    RESULT_LIMIT: '1024',
    MAX_TASKS_PER_POLL: '2',
    POLL_RATE_LIMIT: '3',
    LOG_LEVEL: 'debug',
  });
  // The same deps, logging at debug into memory: no token may appear there.
  const logger = pino({ level: 'debug' }, new Writable({ write: (chunk, _enc, done) => (logLines.push(String(chunk)), done()) }));
  app = await buildApp({ ...h.deps, logger });
  await app.ready();
});
afterAll(async () => {
  await app.close();
  await h.close();
});

const request = (method: 'GET' | 'POST' | 'DELETE', url: string, token?: string, body?: unknown) =>
  app.inject({
    method,
    url,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { payload: JSON.stringify(body) } : {}),
  });
const newTask = (type = `s-${randomUUID().slice(0, 6)}`, data: Record<string, unknown> = {}) => ({
  task_id: randomUUID(),
  test_id: randomUUID(),
  task_type: type,
  task_version: 1,
  task_data: data,
});
const pollBody = (types: string[], agentId: string = randomUUID(), maxTasks = 5) => ({
  protocol: 1,
  agent_id: agentId,
  agent_name: 'sec',
  agent_time: 't',
  agent_capabilities: Object.fromEntries(types.map((type) => [type, { version: 1 }])),
  max_tasks: maxTasks,
});

describe('authentication', () => {
  const routes: [method: 'GET' | 'POST' | 'DELETE', url: string, role: string, body?: unknown][] = [
    ['POST', '/task', 'bpms', newTask()],
    ['GET', `/task/${randomUUID()}`, 'bpms'],
    ['DELETE', `/task/${randomUUID()}`, 'bpms'],
    ['POST', '/tasks', 'agent', pollBody(['x'])],
    ['POST', '/tasks/response', 'agent', { protocol: 1, task_id: randomUUID(), task_error: 'x' }],
    ['GET', '/api/tasks', 'admin'],
    ['GET', '/api/summary', 'admin'],
    ['GET', '/metrics', 'admin'],
    ['GET', '/metrics/fleet', 'admin'],
    ['GET', '/docs/json', 'admin'],
  ];

  it.each(routes)('%s %s: 401 without a token, 403 with another role, through with its own', async (method, url, role, body) => {
    const none = await request(method, url, undefined, body);
    expect(none.statusCode).toBe(401);
    expect(none.headers['www-authenticate']).toContain('Bearer');
    expect(none.json()).toMatchObject({ code: 'AFM_ERR_UNAUTHENTICATED', message: expect.stringContaining(`${role} token`) });
    expect((await request(method, url, 'not-a-token-at-all-123456', body)).statusCode).toBe(401);
    const other = role === 'admin' ? BPMS : ADMIN;
    const wrong = await request(method, url, other, body);
    expect(wrong.statusCode).toBe(403);
    expect(wrong.json().code).toBe('AFM_ERR_FORBIDDEN');
    const own = { agent: AGENT, bpms: BPMS, admin: ADMIN }[role]!;
    const through = (await request(method, url, own, body)).statusCode;
    expect([401, 403]).not.toContain(through);
    expect(through).toBeLessThan(500);
  });

  it('leaves health open: /status, /healthz, /readyz, the dashboard page', async () => {
    for (const url of ['/status', '/healthz', '/readyz', '/dashboard']) expect((await request('GET', url)).statusCode, url).toBe(200);
  });

  it("binds an agent token to its agent: other agents' polls and results are refused", async () => {
    const type = `b-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    expect((await request('POST', '/task', BPMS, task)).statusCode).toBe(200);
    expect((await request('POST', '/tasks', BOUND, pollBody([type]))).statusCode).toBe(403);
    const other = await request('POST', '/tasks', AGENT, pollBody([type]));
    expect(other.json().tasks).toHaveLength(1);
    const stolen = await request('POST', '/tasks/response', BOUND, { protocol: 1, task_id: task.task_id, task_data: {} });
    expect(stolen.statusCode).toBe(403);
    // The bound agent's id is reserved for its token: another agent token may not poll as it.
    const impostor = await request('POST', '/tasks', AGENT, pollBody([type], BOUND_AGENT_ID));
    expect(impostor.statusCode).toBe(403);
    expect(impostor.json().message).toMatch(/has its own token/);
    const own = newTask(type);
    await request('POST', '/task', BPMS, own);
    expect((await request('POST', '/tasks', BOUND, pollBody([type], BOUND_AGENT_ID))).json().tasks).toHaveLength(1);
    expect((await request('POST', '/tasks/response', BOUND, { protocol: 1, task_id: own.task_id, task_data: {} })).statusCode).toBe(200);
  });

  it("binds both ways: another token cannot answer a bound agent's task (issue 11), nor repeat its answer", async () => {
    const type = `bb-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    expect((await request('POST', '/task', BPMS, task)).statusCode).toBe(200);
    expect((await request('POST', '/tasks', BOUND, pollBody([type], BOUND_AGENT_ID))).json().tasks).toHaveLength(1);
    const forged = await request('POST', '/tasks/response', AGENT, { protocol: 1, task_id: task.task_id, task_data: { forged: true } });
    expect(forged.statusCode).toBe(403);
    expect(forged.json()).toMatchObject({ code: 'AFM_ERR_FORBIDDEN', message: expect.stringMatching(/own token/) });
    const own = { protocol: 1, task_id: task.task_id, task_data: { own: true } };
    expect((await request('POST', '/tasks/response', BOUND, own)).statusCode).toBe(200);
    // Its repeat is its own to make: the same body with the shared token is refused too.
    expect((await request('POST', '/tasks/response', AGENT, own)).statusCode).toBe(403);
    expect((await request('POST', '/tasks/response', BOUND, own)).statusCode).toBe(200);
    // After Redis forgot the claim, the rebuilt claim is checked the same way.
    const later = newTask(type);
    await request('POST', '/task', BPMS, later);
    await request('POST', '/tasks', BOUND, pollBody([type], BOUND_AGENT_ID));
    const { recordClaims } = await import('@afm/shared/db/tasks');
    await recordClaims(h.deps.db, [{ task_id: later.task_id, agent_id: BOUND_AGENT_ID, claimed_at: Date.now(), attempts: 1 }]);
    await h.deps.dispatch.redis.del(h.deps.dispatch.keys.task(later.task_id));
    expect((await request('POST', '/tasks/response', AGENT, { protocol: 1, task_id: later.task_id, task_error: 'x' })).statusCode).toBe(
      403,
    );
    expect((await request('POST', '/tasks/response', BOUND, { protocol: 1, task_id: later.task_id, task_error: 'x' })).statusCode).toBe(
      200,
    );
  });

  it('refuses, in the same Redis step, an answer for a holder the caller did not see (a claim made meanwhile)', async () => {
    const type = `nh-${randomUUID().slice(0, 6)}`;
    const task = { ...newTask(type), task_ttl: 60 };
    await request('POST', '/task', BPMS, task);
    // The bound agent polls (again once its second of POLL_RATE_LIMIT is over, if need be).
    const claimed = await waitFor(
      async () => {
        const response = await request('POST', '/tasks', BOUND, pollBody([type], BOUND_AGENT_ID));
        return response.statusCode === 200 && response.json().tasks.length === 1;
      },
      { timeoutMs: 5_000, intervalMs: 200, what: 'the bound agent to claim the task' },
    );
    expect(claimed).toBe(true);
    const { NO_HOLDER } = await import('@afm/shared/dispatch/scripts');
    expect(await h.deps.dispatch.settle(task.task_id, { state: 'completed', result: {} }, Date.now(), NO_HOLDER)).toEqual({
      accepted: false,
      state: 'other-agent',
    });
  });

  it('lets the shared token answer, and repeat, the tasks of agents without their own token', async () => {
    const type = `sh-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    await request('POST', '/task', BPMS, task);
    expect((await request('POST', '/tasks', AGENT, pollBody([type]))).json().tasks).toHaveLength(1);
    const result = { protocol: 1, task_id: task.task_id, task_data: { n: 1 } };
    expect((await request('POST', '/tasks/response', AGENT, result)).statusCode).toBe(200);
    expect((await request('POST', '/tasks/response', AGENT, result)).statusCode).toBe(200);
    // Not a repeat from the agent that answered: refused.
    expect((await request('POST', '/tasks/response', BOUND, result)).statusCode).toBe(400);
  });

  it('never logs a token', async () => {
    await request('GET', '/api/summary', ADMIN);
    await request('GET', '/api/summary', 'wrong-token-abcdefghijklmnop');
    // Some clients put a token in the URL; request lines at debug mask it.
    await request('GET', '/api/summary?token=query-token-abcdefghijklmnop&access_token=query-token-abcdefghijklmnop&limit=5', ADMIN);
    expect(logLines.length).toBeGreaterThan(0);
    const text = logLines.join('');
    for (const token of [AGENT, BPMS, ADMIN, BOUND, 'wrong-token-abcdefghijklmnop', 'query-token-abcdefghijklmnop'])
      expect(text).not.toContain(token);
    expect(text).toContain('token=***');
  });

  it('reads tokens from a file, and stops on a bad one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'afm-tokens-'));
    const file = join(dir, 'tokens');
    writeFileSync(file, `# role token [agent]\nadmin ${'a'.repeat(20)}\nagent ${'b'.repeat(20)} ${BOUND_AGENT_ID}\n`);
    const tokens = Tokens.fromConfig(loadConfig({ env: { TOKEN_FILE: file } }).config);
    expect(tokens.identify('a'.repeat(20))).toEqual({ role: 'admin' });
    expect(tokens.identify('b'.repeat(20))).toEqual({ role: 'agent', agentId: BOUND_AGENT_ID });
    writeFileSync(file, 'root everything\n');
    expect(() => Tokens.fromConfig(loadConfig({ env: { TOKEN_FILE: file } }).config)).toThrow(ConfigError);
    expect(() => loadConfig({ env: { ADMIN_TOKENS: 'short' } })).toThrow(/ADMIN_TOKENS/);
    const twice = 'c'.repeat(20);
    expect(() => Tokens.fromConfig(loadConfig({ env: { ADMIN_TOKENS: twice, BPMS_TOKENS: twice } }).config)).toThrow(
      /listed more than once/,
    );
  });

  it('documents the open routes as open in the OpenAPI description', async () => {
    const paths = (await request('GET', '/docs/json', ADMIN)).json().paths;
    for (const path of ['/status', '/healthz', '/readyz']) expect(paths[path].get.security, path).toEqual([]);
    expect(paths['/task'].post.security).toBeUndefined();
  });
});

describe('limits', () => {
  it('refuses a body over BODY_LIMIT with a JSON 413', async () => {
    const response = await request('POST', '/task', BPMS, newTask(undefined, { blob: 'x'.repeat(5000) }));
    expect(response.statusCode).toBe(413);
    expect(response.json().code).toBe('AFM_ERR_PAYLOAD_TOO_LARGE');
  });

  it('bounds task_data and results, naming the field', async () => {
    const big = await request('POST', '/task', BPMS, newTask(undefined, { blob: 'x'.repeat(2000) }));
    expect(big.statusCode).toBe(413);
    expect(big.json().message).toMatch(/^body\.task_data: \d+ bytes of JSON, more than the 1024 allowed/);
    const type = `l-${randomUUID().slice(0, 6)}`;
    const task = newTask(type);
    await request('POST', '/task', BPMS, task);
    await request('POST', '/tasks', AGENT, pollBody([type]));
    const result = await request('POST', '/tasks/response', AGENT, {
      protocol: 1,
      task_id: task.task_id,
      task_data: { blob: 'y'.repeat(2000) },
    });
    expect(result.statusCode).toBe(413);
    expect(result.json().message).toContain('body.task_data');
    expect((await request('POST', '/tasks/response', AGENT, { protocol: 1, task_id: task.task_id, task_data: { ok: 1 } })).statusCode).toBe(
      200,
    );
  });

  it('caps max_tasks instead of refusing it', async () => {
    const type = `c-${randomUUID().slice(0, 6)}`;
    for (let n = 0; n < 5; n++) await request('POST', '/task', BPMS, newTask(type));
    const response = await request('POST', '/tasks', AGENT, pollBody([type], randomUUID(), 100));
    expect(response.statusCode).toBe(200);
    expect(response.json().tasks).toHaveLength(2);
  });

  it('rate-limits polls per agent with 429 and Retry-After', async () => {
    const agentId = randomUUID();
    let limited;
    for (let n = 0; n < 10 && !limited; n++) {
      const response = await request('POST', '/tasks', AGENT, pollBody(['r'], agentId, 0));
      if (response.statusCode === 429) limited = response;
    }
    expect(limited?.headers['retry-after']).toBe('1');
    expect(limited?.json()).toMatchObject({ code: 'AFM_ERR_RATE_LIMITED', message: expect.stringContaining(agentId) });
    expect((await request('POST', '/tasks', AGENT, pollBody(['r'], randomUUID(), 0))).statusCode).toBe(200); // others are not affected
  });
});
