// README, Configuration: every key, precedence defaults < env < file < flags, aliases, validation naming the key.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_KEYS, ConfigError, describeRedis, loadConfig, maskSecret, redisEnv, redisMode, showValue } from '../src/config.js';

const dir = mkdtempSync(join(tmpdir(), 'afm-config-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};

describe('configuration', () => {
  it('has the defaults of README, Configuration', () => {
    const { config, sources } = loadConfig({ env: {} });
    expect(config).toEqual({
      DATABASE_URI: 'postgres://127.0.0.1:5432/slamon',
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_ACK_REPLICAS: 0,
      REDIS_ACK_TIMEOUT: 1,
      QUEUE_PREFIX: 'slamon',
      HOST: '127.0.0.1',
      PORT: 8080,
      AGENT_RETURN_TIME: 60,
      AGENT_ACTIVE_THRESHOLD: 300,
      AGENT_DROP_THRESHOLD: 3600,
      CLEANUP_INTERVAL: 10,
      HISTORY_HOURS: 6,
      AUTO_CREATE: true,
      AUTO_CLEANUP: true,
      LOG_LEVEL: 'info',
      LOG_FORMAT: 'json',
      BODY_LIMIT: 1_048_576,
      TASK_DATA_LIMIT: 262_144,
      RESULT_LIMIT: 262_144,
      JSON_DEPTH_LIMIT: 64,
      MAX_TASKS_PER_POLL: 100,
      POLL_RATE_LIMIT: 50,
    });
    expect(CONFIG_KEYS).toContain('LOG_FILE');
    expect(Object.values(sources).every((source) => source === 'default')).toBe(true);
  });

  it('applies env < file < flags', () => {
    const path = file('precedence.json', JSON.stringify({ QUEUE_PREFIX: 'from-file', AGENT_RETURN_TIME: 5 }));
    const { config, sources } = loadConfig({
      env: { QUEUE_PREFIX: 'from-env', AGENT_RETURN_TIME: '7', CLEANUP_INTERVAL: '3', REDIS_URL: 'redis://env:6379/2' },
      file: path,
      flags: { REDIS_URL: 'redis://flag:6379/4' },
    });
    expect(config.QUEUE_PREFIX).toBe('from-file');
    expect(config.AGENT_RETURN_TIME).toBe(5);
    expect(config.CLEANUP_INTERVAL).toBe(3);
    expect(config.REDIS_URL).toBe('redis://flag:6379/4');
    expect(sources).toMatchObject({ QUEUE_PREFIX: 'file', CLEANUP_INTERVAL: 'env', REDIS_URL: 'flag', AUTO_CREATE: 'default' });
  });

  it('reads KEY=value files named by SLAMON_AFM_CFG, with comments and quotes', () => {
    const path = file('afm.cfg', '# AFM\nAUTO_CLEANUP = no\nLOG_FORMAT="pretty"\n\nSQLALCHEMY_DATABASE_URI=postgresql://db/afm\nDEBUG=1\n');
    const { config, warnings } = loadConfig({ env: { SLAMON_AFM_CFG: path } });
    expect(config.AUTO_CLEANUP).toBe(false);
    expect(config.LOG_FORMAT).toBe('pretty');
    expect(config.DATABASE_URI).toBe('postgresql://db/afm');
    expect(warnings).toEqual([`config file ${path}: unknown key DEBUG ignored`]);
  });

  it('accepts SQLALCHEMY_DATABASE_URI as an alias, DATABASE_URI winning', () => {
    expect(loadConfig({ env: { SQLALCHEMY_DATABASE_URI: 'postgres://a/x' } }).config.DATABASE_URI).toBe('postgres://a/x');
    expect(loadConfig({ env: { SQLALCHEMY_DATABASE_URI: 'postgres://a/x', DATABASE_URI: 'postgres://b/y' } }).config.DATABASE_URI).toBe(
      'postgres://b/y',
    );
  });

  it.each(['true', 'yes', '1', 'TRUE', 'Yes'])('reads %s as true', (word) => {
    expect(loadConfig({ env: { AUTO_CREATE: word } }).config.AUTO_CREATE).toBe(true);
  });

  it.each(['false', 'no', '0', 'NO'])('reads %s as false', (word) => {
    expect(loadConfig({ env: { AUTO_CREATE: word } }).config.AUTO_CREATE).toBe(false);
  });

  it.each([
    ['AGENT_ACTIVE_THRESHOLD', 'abc'],
    ['AGENT_RETURN_TIME', '-1'],
    ['AUTO_CLEANUP', 'maybe'],
    ['LOG_FORMAT', 'xml'],
    ['LOG_LEVEL', 'loud'],
    ['REDIS_URL', 'http://x'],
    ['DATABASE_URI', 'not a url'],
    ['QUEUE_PREFIX', 'has space'],
    ['HISTORY_HOURS', '0'],
    ['HISTORY_HOURS', '49'],
  ])('refuses %s=%s naming the key', (key, value) => {
    expect(() => loadConfig({ env: { [key]: value } })).toThrow(ConfigError);
    expect(() => loadConfig({ env: { [key]: value } })).toThrow(new RegExp(`^invalid configuration: ${key}=`));
  });

  it('reads HOST and PORT, where run and start listen (issue 15)', () => {
    expect(loadConfig({ env: { HOST: '0.0.0.0', PORT: '9000' } }).config).toMatchObject({ HOST: '0.0.0.0', PORT: 9000 });
    expect(loadConfig({ env: { HOST: '::' } }).config.HOST).toBe('::');
    expect(loadConfig({ env: {}, flags: { PORT: '0' } }).config.PORT).toBe(0);
    for (const port of ['65536', '-1', '80.5', 'http']) {
      expect(() => loadConfig({ env: { PORT: port } }), port).toThrow(/PORT=.* \(from env\): must be a .*port number/);
    }
    expect(() => loadConfig({ env: { HOST: 'a b' } })).toThrow(/HOST="a b" \(from env\): must be a host name or an IP address/);
  });

  it('accepts pino level numbers', () => {
    expect(loadConfig({ env: { LOG_LEVEL: '20' } }).config.LOG_LEVEL).toBe('20');
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig({ env: { LOG_FILE: '', QUEUE_PREFIX: '' } }).config).toMatchObject({ QUEUE_PREFIX: 'slamon' });
    expect(loadConfig({ env: { LOG_FILE: '' } }).config.LOG_FILE).toBeUndefined();
  });

  it('refuses unreadable and malformed files', () => {
    expect(() => loadConfig({ env: {}, file: join(dir, 'missing.json') })).toThrow(/cannot be read/);
    expect(() => loadConfig({ env: {}, file: file('bad.json', '{ nope') })).toThrow(/invalid JSON/);
    expect(() => loadConfig({ env: {}, file: file('bad.cfg', 'JUST_A_WORD') })).toThrow(/line 1: expected KEY=value/);
  });

  it('masks passwords in URLs', () => {
    expect(maskSecret('postgres://afm:s3cret@db:5432/afm')).toBe('postgres://afm:***@db:5432/afm');
    expect(maskSecret('redis://127.0.0.1:6379')).toBe('redis://127.0.0.1:6379');
  });

  it('never shows tokens in its errors, and refuses fractional poll rates', () => {
    const error = (() => {
      try {
        loadConfig({ env: { ADMIN_TOKENS: 'a-good-token-0123456789,short' } });
      } catch (caught) {
        return caught as Error;
      }
    })();
    expect(error?.message).toMatch(/^invalid configuration: ADMIN_TOKENS="\*\*\*,\*\*\*"/);
    expect(error?.message).not.toContain('a-good-token');
    expect(() => loadConfig({ env: { POLL_RATE_LIMIT: '0.5' } })).toThrow(/POLL_RATE_LIMIT.*whole number/);
  });
});

describe('Redis modes (issue 13)', () => {
  const problem = (env: Record<string, string>, flags: Record<string, string> = {}) => {
    try {
      loadConfig({ env, flags });
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      return (error as Error).message;
    }
    throw new Error('configuration was accepted');
  };

  it('reads a Sentinel group from env, file and flags alike', () => {
    const env = { REDIS_SENTINELS: '127.0.0.1:26379, [::1]:26380', REDIS_SENTINEL_NAME: 'afm', REDIS_SENTINEL_PASSWORD: 'sentinel-secret' };
    const fromEnv = loadConfig({ env }).config;
    const fromFile = loadConfig({ env: {}, file: file('sentinel.json', JSON.stringify(env)) }).config;
    const fromFlags = loadConfig({ env: {}, flags: env }).config;
    for (const config of [fromEnv, fromFile, fromFlags]) {
      expect(redisMode(config)).toBe('sentinel');
      expect(config.REDIS_SENTINELS).toEqual([
        { host: '127.0.0.1', port: 26379 },
        { host: '::1', port: 26380 },
      ]);
      expect(config.QUEUE_PREFIX).toBe('slamon');
    }
    expect(describeRedis(fromEnv)).toBe('sentinel (master group afm via 127.0.0.1:26379,::1:26380)');
    expect(showValue('REDIS_SENTINELS', fromEnv.REDIS_SENTINELS)).toBe('127.0.0.1:26379,[::1]:26380');
    expect(showValue('REDIS_SENTINEL_PASSWORD', fromEnv.REDIS_SENTINEL_PASSWORD)).toBe('***');
    // What a child process is handed reaches the same group, not the default REDIS_URL.
    expect(redisEnv(fromEnv)).toEqual({
      REDIS_SENTINELS: '127.0.0.1:26379,[::1]:26380',
      REDIS_SENTINEL_NAME: 'afm',
      REDIS_SENTINEL_PASSWORD: 'sentinel-secret',
    });
  });

  it('puts a Cluster deployment under one hash tag', () => {
    const { config } = loadConfig({ env: { REDIS_CLUSTER_NODES: 'localhost:7000,localhost:7001', QUEUE_PREFIX: 'afm-prod' } });
    expect(redisMode(config)).toBe('cluster');
    expect(config.QUEUE_PREFIX).toBe('{afm-prod}');
    expect(loadConfig({ env: { REDIS_CLUSTER_NODES: 'localhost:7000' } }).config.QUEUE_PREFIX).toBe('{slamon}');
    expect(loadConfig({ env: { REDIS_CLUSTER_NODES: 'localhost:7000', QUEUE_PREFIX: '{x}' } }).config.QUEUE_PREFIX).toBe('{x}');
    // Outside a cluster a prefix keeps its form, braces allowed (so a deployment can move keeping its keys).
    expect(loadConfig({ env: { QUEUE_PREFIX: '{x}' } }).config.QUEUE_PREFIX).toBe('{x}');
    expect(problem({ QUEUE_PREFIX: '{x' })).toMatch(/QUEUE_PREFIX="\{x".*optionally in braces/);
  });

  it('refuses anything but exactly one mode, naming the keys', () => {
    expect(problem({ REDIS_URL: 'redis://a:6379', REDIS_CLUSTER_NODES: 'b:7000' })).toMatch(
      /exactly one Redis mode .* not REDIS_URL \(from env\) and REDIS_CLUSTER_NODES \(from env\)/,
    );
    expect(problem({ REDIS_SENTINELS: 'a:26379', REDIS_SENTINEL_NAME: 'm' }, { REDIS_CLUSTER_NODES: 'b:7000' })).toMatch(
      /REDIS_SENTINELS \(from env\) and REDIS_CLUSTER_NODES \(from flag\)/,
    );
    expect(problem({ REDIS_SENTINELS: 'a:26379' })).toMatch(/REDIS_SENTINELS needs REDIS_SENTINEL_NAME/);
    expect(problem({ REDIS_SENTINEL_NAME: 'm' })).toMatch(/REDIS_SENTINEL_NAME \(from env\) needs REDIS_SENTINELS/);
    expect(problem({ REDIS_PASSWORD: 'pw' })).toMatch(/REDIS_PASSWORD \(from env\) is for REDIS_SENTINELS or REDIS_CLUSTER_NODES/);
    expect(problem({ REDIS_CLUSTER_NODES: 'a:70000' })).toMatch(/REDIS_CLUSTER_NODES="a:70000".*host:port/);
    expect(problem({ REDIS_CLUSTER_NODES: 'a' })).toMatch(/REDIS_CLUSTER_NODES="a".*host:port/);
    expect(problem({ REDIS_ACK_REPLICAS: '-1' })).toMatch(/REDIS_ACK_REPLICAS="-1".*0 \(off\) or more/);
  });

  it('reads TASK_RETENTION as a duration, off by default', () => {
    expect(loadConfig({ env: {} }).config.TASK_RETENTION).toBeUndefined();
    expect(loadConfig({ env: { TASK_RETENTION: '90d' } }).config.TASK_RETENTION).toBe(90 * 86_400);
    expect(loadConfig({ env: { TASK_RETENTION: '12h' } }).config.TASK_RETENTION).toBe(12 * 3_600);
    expect(loadConfig({ env: { TASK_RETENTION: '3600' } }).config.TASK_RETENTION).toBe(3_600);
    expect(loadConfig({ env: { TASK_RETENTION: 'off' } }).config.TASK_RETENTION).toBeUndefined();
    expect(problem({ TASK_RETENTION: '30m' })).toMatch(/TASK_RETENTION="30m".*at least 1 h/);
    expect(problem({ TASK_RETENTION: 'forever' })).toMatch(/TASK_RETENTION="forever".*like 90d/);
  });
});
