// Logging (issue 3, README, Configuration): LOG_FILE, LOG_LEVEL names and numbers, LOG_FORMAT json|pretty; one
// line per request at debug and one per task event at info, with task and agent ids as fields.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { dataArgs, RedisNode } from '@afm/shared/testing/redis-servers';
import { waitFor } from '@afm/shared/testing/wait';
import { call, newTask, poll } from './support/client.js';
import { configEnv, freePort, spawnAfm } from './support/topology.js';

let env: TestEnv;
const dir = mkdtempSync(join(tmpdir(), 'afm-logs-'));
beforeAll(async () => {
  env = await createTestEnv('logging');
});
afterAll(() => env.cleanup());

/** Runs `slamon-afm start` with the given settings, drives one task flow, stops it; returns the log text. */
async function logOf(settings: Record<string, string>, flow: (base: string) => Promise<void>) {
  const port = await freePort();
  const file = join(dir, `${randomUUID()}.log`);
  const proc = spawnAfm(['start', '127.0.0.1', String(port)], configEnv(env.config, { LOG_FILE: file, ...settings }));
  const base = `http://127.0.0.1:${port}`;
  try {
    await waitFor(async () => (await fetch(`${base}/status`)).ok, { timeoutMs: 20_000, what: 'start' });
    await flow(base);
  } finally {
    expect(await proc.kill('SIGTERM')).toBe(0);
  }
  return readFileSync(file, 'utf8');
}

async function taskFlow(base: string) {
  const type = `log-${randomUUID().slice(0, 8)}`;
  const [ok, bad] = [newTask(type), newTask(type)];
  await call(base, 'POST', '/task', ok);
  await call(base, 'POST', '/task', bad);
  const agent = randomUUID();
  await poll(base, [type], 2, agent);
  await call(base, 'POST', '/tasks/response', { protocol: 1, task_id: ok.task_id, task_data: {} });
  await call(base, 'POST', '/tasks/response', { protocol: 1, task_id: bad.task_id, task_error: 'boom' });
  // a task whose agent goes silent, to see the expiry
  const silent = newTask(type);
  await call(base, 'POST', '/task', silent);
  await poll(base, [type], 1, randomUUID());
  await waitFor(async () => (await call(base, 'GET', `/task/${silent.task_id}`)).body.task_failed, { timeoutMs: 10_000, what: 'expiry' });
  return { ok, bad, silent, agent };
}

describe('logging', () => {
  it('writes JSON lines to LOG_FILE: requests at debug, every task event at info with ids', async () => {
    let ids!: Awaited<ReturnType<typeof taskFlow>>;
    const text = await logOf({ LOG_LEVEL: 'debug', AGENT_ACTIVE_THRESHOLD: '1', CLEANUP_INTERVAL: '0.5' }, async (base) => {
      ids = await taskFlow(base);
    });
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    const event = (name: string, taskId: string) => lines.find((line) => line.event === name && line.task_id === taskId);
    expect(event('task.posted', ids.ok.task_id)).toMatchObject({ level: 30, task_type: ids.ok.task_type });
    expect(event('task.claimed', ids.ok.task_id)).toMatchObject({ level: 30, agent_id: ids.agent });
    expect(event('task.completed', ids.ok.task_id)).toMatchObject({ level: 30, agent_id: ids.agent });
    expect(event('task.failed', ids.bad.task_id)).toMatchObject({ level: 30, agent_id: ids.agent });
    expect(event('task.agent_silent', ids.silent.task_id)).toMatchObject({ level: 30, agent_id: expect.any(String) });
    const requests = lines.filter((line) => line.msg === 'request');
    expect(requests.length).toBeGreaterThanOrEqual(8);
    expect(requests[0]).toMatchObject({ level: 20, method: expect.any(String), url: expect.any(String), statusCode: expect.any(Number) });
  });

  it('takes LOG_LEVEL as a pino number: 30 leaves out debug lines', async () => {
    const text = await logOf({ LOG_LEVEL: '30' }, async (base) => {
      await call(base, 'GET', '/status');
      await call(base, 'POST', '/task', newTask('numeric'));
    });
    const lines = text
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(lines.some((line) => line.event === 'task.posted')).toBe(true);
    expect(lines.filter((line) => (line.level as number) < 30)).toEqual([]);
    // One line says where the replica listens, with its address (issue 15: it was said twice).
    const listening = lines.filter((line) => /listening/.test(String(line.msg)));
    expect(listening).toHaveLength(1);
    expect(listening[0]!.msg).toMatch(/^api listening at http:\/\/127\.0\.0\.1:\d+$/);
  });

  it('writes human-readable lines with LOG_FORMAT=pretty', async () => {
    const text = await logOf({ LOG_FORMAT: 'pretty', LOG_LEVEL: 'info' }, async (base) => {
      await call(base, 'POST', '/task', newTask('pretty'));
    });
    expect(text).toMatch(/INFO.*task posted/);
    expect(() => JSON.parse(text.split('\n')[0]!)).toThrow();
  });

  it('logs a Redis outage once with its stack and once when Redis is back, however many connections fail (issue 15)', async () => {
    const port = await freePort();
    const file = join(dir, `${randomUUID()}.log`);
    const redisDir = mkdtempSync(join(tmpdir(), 'afm-logs-redis-'));
    const redis = new RedisNode(port, redisDir, dataArgs(port, redisDir));
    const proc = spawnAfm(
      ['run', '127.0.0.1', String(await freePort())],
      configEnv(env.config, { REDIS_URL: `redis://127.0.0.1:${port}`, LOG_FILE: file, LOG_LEVEL: 'info' }),
    );
    const lines = () =>
      (existsSync(file) ? readFileSync(file, 'utf8') : '')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { level: number; msg: string; err?: { stack: string }; errors?: number });
    try {
      await waitFor(() => lines().some((line) => line.msg.startsWith('Redis unreachable')), { timeoutMs: 20_000, what: 'the outage line' });
      await redis.start();
      await waitFor(() => lines().find((line) => line.msg.startsWith('Redis reachable again')), {
        timeoutMs: 20_000,
        what: 'the recovery line',
      });
    } finally {
      expect(await proc.kill('SIGTERM')).toBe(0);
      await redis.kill();
      rmSync(redisDir, { recursive: true, force: true });
    }
    const outage = lines().filter((line) => /redis/i.test(line.msg) && line.msg !== 'redis is not reachable yet');
    // Each of the replica's Redis connections failed at least once: one line for all of them, with the stack.
    expect(outage.map((line) => line.msg)).toEqual([
      expect.stringMatching(/^Redis unreachable: .*ECONNREFUSED/),
      expect.stringMatching(/^Redis reachable again after \d+ errors/),
    ]);
    expect(outage[0]!.err!.stack).toContain('ECONNREFUSED');
    expect(outage[1]!.errors).toBeGreaterThanOrEqual(3);
    expect(lines().filter((line) => line.err !== undefined)).toHaveLength(1);
  });
});
