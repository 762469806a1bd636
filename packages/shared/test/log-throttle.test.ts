// README, Logging (issue 15): a connection that keeps failing is logged once with its stack, then at
// most once a minute as a count, and once when it works again.
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { OutageLog } from '../src/log-throttle.js';
import { createRedis } from '../src/redis.js';
import { dataArgs, RedisNode } from '../testing/redis-servers.js';
import { waitFor } from '../testing/wait.js';

interface Line {
  level: number;
  msg: string;
  err?: { stack: string };
  errors?: number;
}

function capture() {
  const lines: Line[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const text of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(text) as Line);
      done();
    },
  });
  return { logger: pino({ level: 'debug' }, stream), lines };
}

async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('OutageLog', () => {
  it('logs the first error with its stack, a count at most once per minute, and the recovery', () => {
    const { logger, lines } = capture();
    let now = 1_000_000;
    const outage = new OutageLog(logger, 'Redis', { now: () => now });
    outage.recovered();
    expect(lines).toEqual([]);
    // 150 s of errors, one every 1.5 s: 100 errors.
    for (let index = 0; index < 100; index++) {
      outage.error(new Error('connect ECONNREFUSED 127.0.0.1:6379'));
      now += 1_500;
    }
    expect(lines.map((line) => line.msg)).toEqual([
      'Redis unreachable: connect ECONNREFUSED 127.0.0.1:6379',
      'Redis still unreachable: 40 more errors in the last 60 s (connect ECONNREFUSED 127.0.0.1:6379)',
      'Redis still unreachable: 40 more errors in the last 60 s (connect ECONNREFUSED 127.0.0.1:6379)',
    ]);
    expect(lines[0]!.err!.stack).toMatch(/^Error: connect ECONNREFUSED/);
    expect(lines.slice(1).every((line) => line.err === undefined && line.level === 40)).toBe(true);
    outage.recovered();
    expect(lines.at(-1)).toMatchObject({ level: 30, msg: 'Redis reachable again after 100 errors (150 s)', errors: 100 });
    outage.recovered();
    expect(lines).toHaveLength(4);
    // A new outage starts over, with its stack.
    outage.error(new Error('again'));
    expect(lines.at(-1)).toMatchObject({ msg: 'Redis unreachable: again', err: { stack: expect.stringMatching(/^Error: again/) } });
  });

  it('follows a real ioredis client: one line while it cannot connect, one when Redis is up', async () => {
    const { logger, lines } = capture();
    const port = await closedPort();
    const redis = createRedis(`redis://127.0.0.1:${port}`, 'client', 'outage-test');
    let errors = 0;
    redis.on('error', () => errors++);
    new OutageLog(logger, 'Redis').watch(redis);
    const dir = mkdtempSync(join(tmpdir(), 'afm-outage-'));
    const node = new RedisNode(port, dir, dataArgs(port, dir));
    try {
      redis.connect().catch(() => undefined);
      // ioredis retries after 100, 200, 300 ms …: wait for a few failed attempts.
      await waitFor(() => errors >= 4, { what: 'four connection errors' });
      expect(lines.map((line) => line.msg)).toEqual([expect.stringMatching(/^Redis unreachable: connect ECONNREFUSED/)]);
      expect(lines[0]!.err!.stack).toContain('ECONNREFUSED');
      await node.start();
      await waitFor(() => lines.length === 2, { what: 'the recovery line' });
      expect(lines[1]!.msg).toMatch(/^Redis reachable again after \d+ errors/);
      expect(lines[1]!.errors).toBeGreaterThanOrEqual(4);
    } finally {
      redis.disconnect();
      await node.kill();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
