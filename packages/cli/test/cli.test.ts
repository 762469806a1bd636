// README, Command line: the command line, its exit codes (0 ok, 1 runtime failure, 2 usage error) and its processes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { MIGRATIONS } from '@afm/shared/db/migrate';
import { createDb } from '@afm/shared/db/connect';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { createRedis } from '@afm/shared/redis';
import { colorsFor } from '../src/cli.js';
import { runAfm } from './support/run-cli.js';
import { call, newTask, poll } from './support/client.js';
import { configEnv, freePort, spawnAfm, spawnReplica } from './support/topology.js';
import { waitFor } from '@afm/shared/testing/wait';

let env: TestEnv;
beforeAll(async () => {
  env = await createTestEnv('cli');
});
afterAll(() => env.cleanup());

const run = (argv: string[], vars: Record<string, string> = {}) => runAfm(env.config, argv, vars);

const tables = async ({ kysely = false } = {}) => {
  const db = createDb(env.config.DATABASE_URI, { max: 1 });
  try {
    const rows = await sql<{
      tablename: string;
    }>`select tablename from pg_tables where schemaname = 'public' and (${kysely} or tablename not like 'kysely%') order by 1`.execute(db);
    return rows.rows.map((row) => row.tablename);
  } finally {
    await db.destroy();
  }
};

describe('slamon-afm', () => {
  it('prints help for every command with exit code 0', async () => {
    for (const command of [
      [],
      ['run'],
      ['worker'],
      ['start'],
      ['migrate'],
      ['create-tables'],
      ['drop-tables'],
      ['config'],
      ['queues'],
      ['queues', 'pause'],
      ['queues', 'resume'],
      ['queues', 'drain'],
      ['tasks'],
      ['tasks', 'show'],
      ['tasks', 'list'],
      ['agents'],
      ['agents', 'show'],
      ['agents', 'drop'],
    ]) {
      const result = await run([...command, '--help']);
      expect(result.code, command.join(' ')).toBe(0);
      expect(result.out).toContain('slamon-afm');
      // Option values are named, and the global flags are listed once, in the overview (issue 15).
      expect(result.out, command.join(' ')).not.toContain('#0');
      expect((result.out.match(/Postgres URL/g) ?? []).length, command.join(' ')).toBe(command.length === 0 ? 1 : 0);
      if (command.length > 0) expect(result.out.replace(/\s+/g, ' '), command.join(' ')).toContain('see slamon-afm --help');
    }
  });

  it('lists the global flags in the overview and names what each option and argument takes (issue 15)', async () => {
    const overview = (await run(['--help'])).out;
    expect(overview).toMatch(/^Global options$/m);
    expect(overview).toMatch(/^ {2}-c,--config FILE +Configuration file/m);
    expect(overview).toMatch(/^ {2}--database-uri URL +Postgres URL/m);
    expect(overview).toMatch(/^ {2}-s,--set KEY=VALUE +Set any configuration key/m);
    expect(overview).toContain('slamon-afm queues drain [--json] [--token TOKEN] [--url URL] [--reason TEXT] [--version N] <TYPE>');
    expect(overview).toContain('slamon-afm start [HOST] [PORT]');
    const drain = (await run(['queues', 'drain', '--help'])).out;
    expect(drain).toMatch(/^ {2}--reason TEXT +Required: task_error/m);
    expect(drain).not.toMatch(/--database-uri URL|--queue-prefix PREFIX/);
  });

  it('colours help only where conventional: not when piped, not with NO_COLOR, always with FORCE_COLOR (issue 15)', async () => {
    // A terminal type that asks for colour, with stdout a pipe: clipanion's own default coloured this.
    const piped = async (vars: Record<string, string>) => {
      const proc = spawnAfm(['--help'], { PATH: process.env.PATH, TERM: 'xterm-256color', ...vars });
      expect(await proc.exited).toBe(0);
      return proc.output();
    };
    expect(await piped({})).not.toContain('\x1b[');
    expect(await piped({ FORCE_COLOR: '1' })).toContain('\x1b[');
    expect((await run(['queues', 'drain', '--help'], { FORCE_COLOR: '1' })).out).toContain('\x1b[1m');
    expect((await run(['queues', 'drain', '--help'])).out).not.toContain('\x1b[');
    const terminal = { isTTY: true } as unknown as NodeJS.WritableStream;
    expect(colorsFor(terminal, {})).toBe(true);
    expect(colorsFor(terminal, { NO_COLOR: '1' })).toBe(false);
    expect(colorsFor(terminal, { NO_COLOR: '' })).toBe(true);
    expect(colorsFor(terminal, { TERM: 'dumb' })).toBe(false);
    expect(colorsFor(terminal, { FORCE_COLOR: '0' })).toBe(false);
  });

  it('names a missing required option or argument, with exit code 2 (issue 15)', async () => {
    const noReason = await run(['queues', 'drain', 'http-get']);
    expect(noReason.code).toBe(2);
    expect(noReason.err).toBe('slamon-afm: --reason is required (see --help)\n');
    const noType = await run(['queues', 'drain', '--reason', 'retired']);
    expect(noType.code).toBe(2);
    expect(noType.err).toMatch(/Not enough positional arguments[\s\S]*slamon-afm queues drain .*<TYPE>/);
    for (const command of [
      ['tasks', 'show'],
      ['agents', 'show'],
      ['agents', 'drop'],
      ['queues', 'pause'],
      ['queues', 'resume'],
    ]) {
      const missing = await run(command);
      expect(missing.code, command.join(' ')).toBe(2);
      expect(missing.err, command.join(' ')).toMatch(/Not enough positional arguments[\s\S]*<(ID|TYPE)>/);
      expect(missing.err).not.toContain('Command not found');
    }
  });

  it('exits 2 with its help on stderr when given no command (issue 15)', async () => {
    const result = await run([]);
    expect(result.code).toBe(2);
    expect(result.out).toBe('');
    expect(result.err).toContain('slamon-afm');
  });

  it('exits 2 on a command line it does not understand', async () => {
    expect((await run(['nonsense'])).code).toBe(2);
    expect((await run(['run', '--bogus'])).code).toBe(2);
    expect((await run(['run', '127.0.0.1', 'not-a-port'])).code).toBe(2);
  });

  it('exits 2 naming the key on invalid configuration', async () => {
    const result = await run(['create-tables'], { AGENT_ACTIVE_THRESHOLD: 'abc' });
    expect(result.code).toBe(2);
    expect(result.err).toContain('AGENT_ACTIVE_THRESHOLD');
    const flag = await run(['create-tables', '--redis-url', 'http://nope']);
    expect(flag.code).toBe(2);
    expect(flag.err).toContain('REDIS_URL');
  });

  it('config shows each value with its source: env < file < flags, secrets masked', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'afm-cli-'));
    const file = join(dir, 'afm.cfg');
    writeFileSync(file, 'QUEUE_PREFIX=from-file\nAGENT_RETURN_TIME=7\nCLEANUP_INTERVAL=2\n');
    const result = await run(
      ['config', '--json', '-c', file, '--set', 'AGENT_RETURN_TIME=9', '--redis-url', 'redis://:hunter2@cache:6379/3'],
      {
        QUEUE_PREFIX: 'from-env',
        AGENT_ACTIVE_THRESHOLD: '120',
        DATABASE_URI: 'postgres://afm:s3cret@db:5432/afm',
      },
    );
    expect(result.code).toBe(0);
    const shown = JSON.parse(result.out) as { file: string; config: { key: string; value: unknown; source: string }[] };
    const row = (key: string) => shown.config.find((entry) => entry.key === key);
    expect(shown.file).toBe(file);
    expect(row('QUEUE_PREFIX')).toEqual({ key: 'QUEUE_PREFIX', value: 'from-file', source: 'file' });
    // Numbers and booleans as JSON numbers and booleans (issue 15).
    expect(row('AGENT_RETURN_TIME')).toEqual({ key: 'AGENT_RETURN_TIME', value: 9, source: 'flag' });
    expect(row('AGENT_ACTIVE_THRESHOLD')).toEqual({ key: 'AGENT_ACTIVE_THRESHOLD', value: 120, source: 'env' });
    expect(row('AGENT_DROP_THRESHOLD')).toEqual({ key: 'AGENT_DROP_THRESHOLD', value: 3600, source: 'default' });
    expect(row('AUTO_CREATE')).toEqual({ key: 'AUTO_CREATE', value: false, source: 'env' });
    expect(row('PORT')).toEqual({ key: 'PORT', value: 8080, source: 'default' });
    expect(row('HOST')).toEqual({ key: 'HOST', value: '127.0.0.1', source: 'default' });
    expect(row('LOG_LEVEL')?.value).toEqual(expect.any(String));
    expect(row('DATABASE_URI')?.value).toBe('postgres://afm:***@db:5432/afm');
    expect(row('REDIS_URL')).toMatchObject({ value: 'redis://:***@cache:6379/3', source: 'flag' });
    expect(result.out).not.toMatch(/s3cret|hunter2/);

    const table = await run(['config'], { SLAMON_AFM_CFG: file });
    expect(table.out).toMatch(/^KEY\s+VALUE\s+SOURCE$/m);
    expect(table.out).toMatch(/^CLEANUP_INTERVAL\s+2\s+file$/m);
  });

  it('config exits 2 naming the key of an invalid value or an unknown --set key', async () => {
    const invalid = await run(['config'], { AGENT_ACTIVE_THRESHOLD: 'abc' });
    expect(invalid.code).toBe(2);
    expect(invalid.err).toMatch(/AGENT_ACTIVE_THRESHOLD="abc" \(from env\)/);
    const unknown = await run(['config', '--set', 'NOPE=1']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toContain('NOPE');
  });

  it('config names the Redis mode, from env or flags, and exits 2 when two modes are configured (issue 13)', async () => {
    const sentinel = await run(['config', '--redis-sentinels', '127.0.0.1:26379,127.0.0.1:26380', '--redis-sentinel-name', 'afm'], {
      REDIS_URL: '',
    });
    expect(sentinel.code).toBe(0);
    expect(sentinel.out).toMatch(/^REDIS_SENTINELS\s+127\.0\.0\.1:26379,127\.0\.0\.1:26380\s+flag$/m);
    expect(sentinel.out).toMatch(/^redis: sentinel \(master group afm via 127\.0\.0\.1:26379,127\.0\.0\.1:26380\)$/m);
    const cluster = await run(['config', '--json'], { REDIS_URL: '', REDIS_CLUSTER_NODES: '127.0.0.1:7000', QUEUE_PREFIX: 'afm' });
    expect(cluster.json()).toMatchObject({ redis: 'cluster (seed nodes 127.0.0.1:7000)' });
    expect(cluster.json().config).toContainEqual({ key: 'QUEUE_PREFIX', value: '{afm}', source: 'env' });
    const both = await run(['config', '--redis-cluster-nodes', '127.0.0.1:7000']);
    expect(both.code).toBe(2);
    expect(both.err).toMatch(/exactly one Redis mode .* REDIS_URL \(from env\) and REDIS_CLUSTER_NODES \(from flag\)/);
  });

  it('exits 1 when storage is unreachable, saying it is Postgres and where (password masked)', async () => {
    const refused = await run(['create-tables', '--database-uri', 'postgres://afm:hunter2@127.0.0.1:1/x']);
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^slamon-afm: cannot reach Postgres at postgres:\/\/afm:\*\*\*@127\.0\.0\.1:1\/x: .*ECONNREFUSED/);
    const unknownHost = await run(['migrate', '--database-uri', 'postgres://afm:hunter2@afm-db.invalid/x']);
    expect(unknownHost.code).toBe(1);
    expect(unknownHost.err).toMatch(/^slamon-afm: cannot reach Postgres at postgres:\/\/afm:\*\*\*@afm-db\.invalid\/x: getaddrinfo/);
    expect(unknownHost.err).not.toContain('hunter2');
    expect((await run(['drop-tables', '--yes', '--database-uri', 'postgres://afm@127.0.0.1:1/x'])).err).toMatch(/cannot reach Postgres at/);
  });

  it('drops tables only with --yes, and creates them again', async () => {
    expect(await tables()).toEqual(['agent_capabilities', 'agents', 'tasks']);
    const refused = await run(['drop-tables']);
    expect(refused.code).toBe(2);
    expect(await tables()).toHaveLength(3);
    expect((await run(['drop-tables', '--yes'])).code).toBe(0);
    expect(await tables()).toEqual([]);
    const created = await run(['create-tables']);
    expect(created.code).toBe(0);
    expect(created.out).toContain('applied');
    expect((await run(['create-tables'])).out).toContain('up to date');
    expect(await tables()).toEqual(['agent_capabilities', 'agents', 'tasks']);
  });

  it("drop-tables also drops Kysely's tables, and with --redis every Redis key of the deployment, no other (issue 15)", async () => {
    const prefix = env.config.QUEUE_PREFIX;
    const redis = createRedis(env.config, 'client');
    const others = [`${prefix}-other:kept`, `${prefix}x:kept`, `other-${prefix}:kept`];
    try {
      await redis.connect();
      await redis.mset(
        `${prefix}:one`,
        '1',
        `${prefix}:queue:wait`,
        '2',
        `${prefix}:{x}:three`,
        '3',
        ...others.flatMap((key) => [key, '1']),
      );
      const ours = async () => (await redis.keys(`${prefix}:*`)).length;
      expect(await ours()).toBe(3);
      expect((await run(['drop-tables', '--redis'])).code).toBe(2);
      expect(await ours()).toBe(3);

      const dropped = await run(['drop-tables', '--redis', '--yes']);
      expect(dropped.code).toBe(0);
      expect(dropped.out).toContain('dropped kysely_migration\n');
      expect(dropped.out).toContain(`deleted 3 Redis keys under ${prefix}:`);
      expect(await tables({ kysely: true })).toEqual([]);
      expect(await ours()).toBe(0);
      expect(await redis.exists(...others)).toBe(others.length);

      // The next migrate starts clean: every migration applied again.
      const migrated = await run(['migrate']);
      expect(migrated.code).toBe(0);
      expect(migrated.out.match(/^applied /gm)).toHaveLength(Object.keys(MIGRATIONS).length);
      expect(await tables()).toEqual(['agent_capabilities', 'agents', 'tasks']);
    } finally {
      await redis.del(...others);
      await redis.quit();
    }
  });

  it('listens where HOST and PORT say, its arguments overriding them (issue 15)', async () => {
    const [configured, argument] = [await freePort(), await freePort()];
    const status = async (port: number) => (await fetch(`http://127.0.0.1:${port}/status`)).status;
    const byConfig = spawnAfm(['run'], configEnv(env.config, { HOST: '127.0.0.1', PORT: String(configured) }));
    try {
      await waitFor(async () => (await status(configured)) === 200, { timeoutMs: 20_000, what: 'run on PORT' });
    } finally {
      expect(await byConfig.kill('SIGTERM')).toBe(0);
    }
    const byArgument = spawnAfm(['run', '127.0.0.1', String(argument)], configEnv(env.config, { PORT: String(configured) }));
    try {
      await waitFor(async () => (await status(argument)) === 200, { timeoutMs: 20_000, what: 'run on its PORT argument' });
      await expect(status(configured)).rejects.toThrow();
    } finally {
      expect(await byArgument.kill('SIGTERM')).toBe(0);
    }
  });

  it('runs replicas and a worker as processes that stop cleanly on SIGTERM', async () => {
    const replica = await spawnReplica(env.config, await freePort());
    const worker = spawnAfm(['worker'], configEnv(env.config));
    try {
      const type = `proc-${Date.now()}`;
      const task = newTask(type);
      expect((await call(replica.url, 'POST', '/task', task)).status).toBe(200);
      expect(await poll(replica.url, [type], 1)).toHaveLength(1);
      expect((await call(replica.url, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: {} })).status).toBe(200);
      await waitFor(async () => (await call(replica.url, 'GET', `/task/${task.task_id}`)).body.task_completed, { what: 'the result' });
    } finally {
      expect(await replica.kill('SIGTERM')).toBe(0);
      expect(await worker.kill('SIGTERM')).toBe(0);
    }
  });

  it('stops on SIGTERM when started by npm start or npx, which do not pass the signal on (issue 11)', async () => {
    const repo = new URL('../../../', import.meta.url).pathname;
    for (const launcher of [
      ['npm', 'start', '--', '127.0.0.1'],
      ['npx', 'slamon-afm', 'start', '127.0.0.1'],
    ]) {
      const port = await freePort();
      const { spawn } = await import('node:child_process');
      const child = spawn(launcher[0]!, [...launcher.slice(1), String(port)], {
        cwd: repo,
        env: configEnv(env.config, { LOG_LEVEL: 'info' }),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout!.on('data', (chunk) => (output += chunk));
      child.stderr!.on('data', (chunk) => (output += chunk));
      try {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/healthz`)).ok, {
          timeoutMs: 30_000,
          what: `${launcher[0]} to serve`,
        });
        const afm = Number(/"pid":(\d+)/.exec(output)?.[1]);
        expect(afm).not.toBe(child.pid);
        child.kill('SIGTERM');
        await waitFor(
          () => {
            try {
              process.kill(afm, 0);
              return false;
            } catch {
              return true;
            }
          },
          { timeoutMs: 20_000, what: `the AFM process of ${launcher[0]} to exit` },
        );
        expect(output, launcher[0]).toMatch(/"msg":"shutting down"/);
        expect(output, launcher[0]).toMatch(/"code":0,"msg":"stopped"/);
      } finally {
        child.kill('SIGKILL');
      }
    }
  }, 90_000);

  it('start creates the database and serves API and worker in one process', async () => {
    const url = new URL(env.config.DATABASE_URI);
    url.pathname = `/${url.pathname.slice(1)}_start`;
    const port = await freePort();
    const proc = spawnAfm(
      ['start', '127.0.0.1', String(port)],
      configEnv(env.config, { DATABASE_URI: url.toString(), AUTO_CREATE: 'true' }),
    );
    const base = `http://127.0.0.1:${port}`;
    try {
      await waitFor(async () => (await fetch(`${base}/status`)).ok, { timeoutMs: 20_000, what: 'start to answer' });
      const task = newTask(`start-${port}`);
      expect((await call(base, 'POST', '/task', task)).status).toBe(200);
      await poll(base, [task.task_type], 1);
      await call(base, 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: { ok: 1 } });
      await waitFor(async () => (await call(base, 'GET', `/task/${task.task_id}`)).body.task_result, { what: 'the result' });
    } finally {
      expect(await proc.kill('SIGTERM')).toBe(0);
      const admin = createDb(env.config.DATABASE_URI.replace(/\/[^/]*$/, '/postgres'), { max: 1 });
      await sql`drop database if exists ${sql.id(url.pathname.slice(1))} with (force)`.execute(admin);
      await admin.destroy();
    }
  });
});
