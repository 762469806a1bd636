/**
 * Configuration (README, Configuration), parsed once into a typed object.
 * Precedence: defaults < environment < config file (`--config` or `SLAMON_AFM_CFG`) < command-line flags.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';

const BOOLEAN_WORDS: Record<string, boolean> = { true: true, yes: true, 1: true, false: false, no: false, 0: false };

const booleanValue = z.preprocess(
  (value) => (typeof value === 'string' ? (BOOLEAN_WORDS[value.trim().toLowerCase()] ?? value) : value),
  z.boolean({ error: 'must be one of true/false/yes/no/1/0' }),
);

const seconds = z.coerce
  .number({ error: 'must be a number of seconds' })
  .refine((value) => Number.isFinite(value) && value > 0, 'must be a number of seconds greater than 0');

const bytes = z.coerce
  .number({ error: 'must be a number of bytes' })
  .int('must be a whole number of bytes')
  .min(1_024, 'must be at least 1024 bytes');

const TOKEN = /^[A-Za-z0-9._~+/=-]{16,}$/;
const tokenList = z
  .string()
  .optional()
  .refine(
    (value) => !value || value.split(',').every((entry) => TOKEN.test(entry.trim().split('@')[0]!)),
    'must be comma-separated tokens of at least 16 characters (letters, digits, ._~+/=-), each optionally @agent-uuid',
  );

const LOG_LEVEL_NAMES = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const logLevel = z.preprocess(
  (value) => (typeof value === 'string' ? value.trim().toLowerCase() : typeof value === 'number' ? String(value) : value),
  z.union([z.enum(LOG_LEVEL_NAMES), z.string().regex(/^\d+$/)], {
    error: `must be one of ${LOG_LEVEL_NAMES.join('/')} or a pino level number`,
  }),
);

const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    `must be a URL starting with ${protocols.map((protocol) => `${protocol}//`).join(' or ')}`,
  );

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;
/** `host:port,host:port,…` (an IPv6 host in brackets) → addresses. */
const hostList = z
  .string()
  .refine(
    (value) => value.split(',').every((entry) => HOST_PORT.test(entry.trim()) && Number(HOST_PORT.exec(entry.trim())![2]) <= 65_535),
    'must be comma-separated host:port addresses (an IPv6 host in brackets)',
  )
  .transform((value) =>
    value.split(',').map((entry) => {
      const [, host, port] = HOST_PORT.exec(entry.trim())!;
      return { host: host!.replace(/^\[|\]$/g, ''), port: Number(port) };
    }),
  );

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3_600, d: 86_400, w: 604_800 };
/** `90d`, `12h`, `60m`, `3600s` or `3600` → seconds; `off` (or unset) → undefined. */
const duration = z
  .string()
  .transform((value, context) => {
    const text = value.trim().toLowerCase();
    if (text === 'off') return undefined;
    const match = /^(\d+(?:\.\d+)?)\s*([smhdw]?)$/.exec(text);
    const amount = match ? Number(match[1]) * DURATION_UNITS[match[2] || 's']! : NaN;
    // Redis remembers a finished task's id for 10 minutes (results.service.ts): history kept for less
    // would let an id come back while Redis still drops it as done.
    if (!(amount >= 3_600)) {
      context.addIssue({ code: 'custom', message: 'must be a duration of at least 1 h, like 90d, 12h, 60m or 3600s, or off' });
      return z.NEVER;
    }
    return amount;
  })
  .optional();

const PREFIX_NAME = '[A-Za-z0-9_.-]{1,64}';

export const ConfigSchema = z.object({
  DATABASE_URI: url(['postgres:', 'postgresql:']).default('postgres://127.0.0.1:5432/slamon'),
  // Redis: one server (REDIS_URL), a Sentinel group, or a Cluster; exactly one (checked in loadConfig).
  REDIS_URL: url(['redis:', 'rediss:']).default('redis://127.0.0.1:6379'),
  REDIS_SENTINELS: hostList.optional(),
  REDIS_SENTINEL_NAME: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,128}$/, 'must be the master group name Sentinel knows')
    .optional(),
  REDIS_SENTINEL_PASSWORD: z.string().min(1).optional(),
  REDIS_CLUSTER_NODES: hostList.optional(),
  /** Password of the Redis servers in Sentinel and Cluster modes (REDIS_URL carries its own). */
  REDIS_PASSWORD: z.string().min(1).optional(),
  /** Replicas that must hold a write before AFM acknowledges it (Redis WAIT); 0 = off. */
  REDIS_ACK_REPLICAS: z.coerce
    .number({ error: 'must be a whole number of replicas' })
    .int('must be a whole number of replicas')
    .min(0, 'must be 0 (off) or more')
    .max(16, 'must be at most 16')
    .default(0),
  REDIS_ACK_TIMEOUT: seconds.default(1),
  // In Cluster mode a prefix without a hash tag is written {prefix} (loadConfig), so that every key of
  // the deployment, AFM's and BullMQ's, hashes to one slot and each script stays atomic on one node.
  QUEUE_PREFIX: z
    .string()
    .regex(
      new RegExp(`^(${PREFIX_NAME}|\\{${PREFIX_NAME}\\})$`),
      'must be 1 to 64 letters, digits, dots, dashes or underscores, optionally in braces ({slamon}: a Redis Cluster hash tag)',
    )
    .default('slamon'),
  // Where `run` and `start` listen; their HOST and PORT arguments override these.
  HOST: z
    .string()
    .regex(/^([A-Za-z0-9_.-]+|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*)$/, 'must be a host name or an IP address, e.g. 0.0.0.0 or ::')
    .default('127.0.0.1'),
  PORT: z.coerce
    .number({ error: 'must be a port number' })
    .int('must be a whole port number')
    .min(0, 'must be a port number from 0 to 65535')
    .max(65_535, 'must be a port number from 0 to 65535')
    .default(8080),
  /** Finished tasks older than this are deleted from Postgres by the worker; off by default. */
  TASK_RETENTION: duration,
  AGENT_RETURN_TIME: seconds.default(60),
  AGENT_ACTIVE_THRESHOLD: seconds.default(300),
  AGENT_DROP_THRESHOLD: seconds.default(3600),
  CLEANUP_INTERVAL: seconds.default(10),
  /** Hours of queue and latency history kept in Redis for the dashboard's charts (GET /api/history). */
  HISTORY_HOURS: z.coerce
    .number({ error: 'must be a number of hours' })
    .refine((value) => Number.isFinite(value) && value > 0 && value <= 48, 'must be a number of hours greater than 0, at most 48')
    .default(6),
  AUTO_CREATE: booleanValue.default(true),
  AUTO_CLEANUP: booleanValue.default(true),
  LOG_FILE: z.string().min(1).optional(),
  LOG_LEVEL: logLevel.default('info'),
  LOG_FORMAT: z.enum(['json', 'pretty'], { error: 'must be json or pretty' }).default('json'),
  // Authentication (off while no token is configured): comma-separated bearer tokens per role; an
  // agent token may be bound to one agent as `token@agent-uuid`.
  AGENT_TOKENS: tokenList,
  BPMS_TOKENS: tokenList,
  ADMIN_TOKENS: tokenList,
  /** File of `role token [agent-uuid]` lines (# comments), read at start, added to the lists above. */
  TOKEN_FILE: z.string().min(1).optional(),
  // Limits
  BODY_LIMIT: bytes.default(1_048_576),
  TASK_DATA_LIMIT: bytes.default(262_144),
  RESULT_LIMIT: bytes.default(262_144),
  JSON_DEPTH_LIMIT: z.coerce
    .number({ error: 'must be a whole number of levels' })
    .int('must be a whole number of levels')
    .min(2, 'must be 2 or more')
    .max(1_000, 'must be at most 1000 (deeper JSON costs stack and time in every process that reads it)')
    .default(64),
  MAX_TASKS_PER_POLL: z.coerce
    .number({ error: 'must be a whole number' })
    .int('must be a whole number')
    .min(1, 'must be 1 or more')
    .default(100),
  POLL_RATE_LIMIT: z.coerce
    .number({ error: 'must be a whole number of polls per second' })
    .int('must be a whole number of polls per second')
    .min(0, 'must be 0 (off) or more')
    .default(50),
});

export type Config = z.output<typeof ConfigSchema>;
export type ConfigKey = keyof Config;
export const CONFIG_KEYS = Object.keys(ConfigSchema.shape) as ConfigKey[];

/** Older names still accepted, mapped to the current key (the Python AFM's Flask-SQLAlchemy setting). */
export const CONFIG_ALIASES: Record<string, ConfigKey> = { SQLALCHEMY_DATABASE_URI: 'DATABASE_URI' };

/** Keys whose values are masked when configuration is printed. */
export const SECRET_KEYS: ReadonlySet<ConfigKey> = new Set([
  'DATABASE_URI',
  'REDIS_URL',
  'REDIS_SENTINEL_PASSWORD',
  'REDIS_PASSWORD',
  'AGENT_TOKENS',
  'BPMS_TOKENS',
  'ADMIN_TOKENS',
]);

export type RedisMode = 'single' | 'sentinel' | 'cluster';

/** How AFM reaches Redis, from the keys loadConfig checked (exactly one mode). */
export type RedisTarget = Pick<
  Config,
  'REDIS_URL' | 'REDIS_SENTINELS' | 'REDIS_SENTINEL_NAME' | 'REDIS_SENTINEL_PASSWORD' | 'REDIS_CLUSTER_NODES' | 'REDIS_PASSWORD'
>;

export const redisMode = (target: Partial<RedisTarget>): RedisMode =>
  target.REDIS_CLUSTER_NODES ? 'cluster' : target.REDIS_SENTINELS ? 'sentinel' : 'single';

/** The Redis mode in words, for `config` and the start-up log. */
export function describeRedis(target: RedisTarget): string {
  const list = (nodes: { host: string; port: number }[]) => nodes.map(({ host, port }) => `${host}:${port}`).join(',');
  switch (redisMode(target)) {
    case 'cluster':
      return `cluster (seed nodes ${list(target.REDIS_CLUSTER_NODES!)})`;
    case 'sentinel':
      return `sentinel (master group ${target.REDIS_SENTINEL_NAME} via ${list(target.REDIS_SENTINELS!)})`;
    default:
      return `single server (${maskSecret(target.REDIS_URL)})`;
  }
}

/** The Redis keys of a target as environment variables: what a child process needs to reach the same Redis. */
export function redisEnv(target: RedisTarget): Record<string, string> {
  const keys = [
    'REDIS_URL',
    'REDIS_SENTINELS',
    'REDIS_SENTINEL_NAME',
    'REDIS_SENTINEL_PASSWORD',
    'REDIS_CLUSTER_NODES',
    'REDIS_PASSWORD',
  ] as const;
  const mode = redisMode(target);
  const env: Record<string, string> = {};
  for (const key of keys) {
    if (key === 'REDIS_URL' && mode !== 'single') continue;
    const value = target[key];
    if (value === undefined) continue;
    env[key] = Array.isArray(value) ? showValue(key, value) : String(value);
  }
  return env;
}

/** Exactly one Redis mode, with what it needs; the problem names the keys. */
function checkRedisMode(raw: RawValues, sources: Record<ConfigKey, ConfigSource>): string | undefined {
  const given = (key: ConfigKey) => raw[key] !== undefined;
  const from = (key: ConfigKey) => `${key} (from ${sources[key]})`;
  const modes = (['REDIS_URL', 'REDIS_SENTINELS', 'REDIS_CLUSTER_NODES'] as const).filter(given);
  if (modes.length > 1)
    return `configure exactly one Redis mode — REDIS_URL, REDIS_SENTINELS with REDIS_SENTINEL_NAME, or REDIS_CLUSTER_NODES — not ${modes.map(from).join(' and ')}`;
  if (given('REDIS_SENTINELS') !== given('REDIS_SENTINEL_NAME'))
    return given('REDIS_SENTINELS')
      ? 'REDIS_SENTINELS needs REDIS_SENTINEL_NAME (the master group the sentinels watch)'
      : `${from('REDIS_SENTINEL_NAME')} needs REDIS_SENTINELS (the sentinels' host:port list)`;
  if (given('REDIS_SENTINEL_PASSWORD') && !given('REDIS_SENTINELS'))
    return `${from('REDIS_SENTINEL_PASSWORD')} is only for REDIS_SENTINELS`;
  if (given('REDIS_PASSWORD') && modes[0] !== 'REDIS_SENTINELS' && modes[0] !== 'REDIS_CLUSTER_NODES')
    return `${from('REDIS_PASSWORD')} is for REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL put the password in the URL`;
  return undefined;
}

export type ConfigSource = 'default' | 'env' | 'file' | 'flag';

export interface LoadedConfig {
  config: Config;
  sources: Record<ConfigKey, ConfigSource>;
  file?: string;
  warnings: string[];
}

export interface ConfigInputs {
  env?: NodeJS.ProcessEnv;
  /** Path from `--config`; falls back to `SLAMON_AFM_CFG` in `env`. */
  file?: string;
  /** Values given as command-line flags, keyed by config key. */
  flags?: Partial<Record<ConfigKey, string | undefined>>;
}

/** Bad configuration: a usage error (exit code 2) naming the key. */
export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type RawValues = Partial<Record<ConfigKey, unknown>>;

function canonicalKey(key: string): ConfigKey | undefined {
  const upper = key.trim().toUpperCase();
  if ((CONFIG_KEYS as string[]).includes(upper)) return upper as ConfigKey;
  return CONFIG_ALIASES[upper];
}

/** Picks known keys out of a flat record; a canonical key beats its alias given in the same place. */
function pickKnown(record: Record<string, unknown>, unknown?: string[]): RawValues {
  const values: RawValues = {};
  const fromAlias = new Set<ConfigKey>();
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) continue;
    const key = canonicalKey(name);
    if (!key) {
      unknown?.push(name);
      continue;
    }
    const isAlias = key !== name.trim().toUpperCase();
    if (isAlias && key in values && !fromAlias.has(key)) continue;
    values[key] = value;
    if (isAlias) fromAlias.add(key);
    else fromAlias.delete(key);
  }
  return values;
}

/** Parses a config file: a JSON object, or `KEY=value` lines with `#` comments. */
export function parseConfigFile(text: string, path: string): Record<string, unknown> {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (error) {
      throw new ConfigError(`config file ${path}: invalid JSON (${(error as Error).message})`);
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new ConfigError(`config file ${path}: must hold a JSON object`);
    }
    return parsed as Record<string, unknown>;
  }
  const record: Record<string, unknown> = {};
  trimmed.split(/\r?\n/).forEach((line, index) => {
    const content = line.trim();
    if (content === '' || content.startsWith('#')) return;
    const eq = content.indexOf('=');
    if (eq <= 0) throw new ConfigError(`config file ${path}, line ${index + 1}: expected KEY=value`);
    let value = content.slice(eq + 1).trim();
    if (/^(['"]).*\1$/.test(value)) value = value.slice(1, -1);
    record[content.slice(0, eq).trim()] = value;
  });
  return record;
}

export function loadConfig(inputs: ConfigInputs = {}): LoadedConfig {
  const env = inputs.env ?? process.env;
  const warnings: string[] = [];
  const layers: [ConfigSource, RawValues][] = [['env', pickKnown(env)]];

  const file = inputs.file ?? (env.SLAMON_AFM_CFG || undefined);
  if (file) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      throw new ConfigError(`config file ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
    }
    const unknown: string[] = [];
    layers.push(['file', pickKnown(parseConfigFile(text, file), unknown)]);
    for (const key of unknown) warnings.push(`config file ${file}: unknown key ${key} ignored`);
  }
  layers.push(['flag', pickKnown(inputs.flags ?? {})]);

  const raw: RawValues = {};
  const sources = Object.fromEntries(CONFIG_KEYS.map((key) => [key, 'default'])) as Record<ConfigKey, ConfigSource>;
  for (const [source, values] of layers) {
    for (const [key, value] of Object.entries(values) as [ConfigKey, unknown][]) {
      const trimmed = typeof value === 'string' ? value.trim() : value;
      // An empty value means "not set": the lower layer's value (or the default) applies.
      if (trimmed === '') continue;
      raw[key] = trimmed;
      sources[key] = source;
    }
  }

  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => {
      const key = String(issue.path[0] ?? '');
      const value = raw[key as ConfigKey];
      const shown = value !== undefined && SECRET_KEYS.has(key as ConfigKey) ? maskSecret(String(value)) : value;
      return `${key}=${JSON.stringify(shown)} (from ${sources[key as ConfigKey] ?? 'default'}): ${issue.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const redisProblem = checkRedisMode(raw, sources);
  if (redisProblem) throw new ConfigError(`invalid configuration: ${redisProblem}`);
  const config = parsed.data;
  if (redisMode(config) === 'cluster' && !config.QUEUE_PREFIX.startsWith('{')) config.QUEUE_PREFIX = `{${config.QUEUE_PREFIX}}`;
  return { config, sources, ...(file ? { file } : {}), warnings };
}

/** A configuration value as `config` prints it (secrets masked, address lists as given). */
export function showValue(key: ConfigKey, value: Config[ConfigKey]): string {
  if (value === undefined) return '';
  if (Array.isArray(value)) return value.map(({ host, port }) => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`)).join(',');
  return SECRET_KEYS.has(key) ? maskSecret(String(value)) : String(value);
}

/** Hides passwords in connection URLs, and tokens, so configuration can be printed or logged. */
export function maskSecret(value: string): string {
  if (!value.includes('://'))
    return value
      .split(',')
      .map(() => '***')
      .join(',');
  try {
    const parsed = new URL(value);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '***';
  }
}
