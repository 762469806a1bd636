/**
 * Shared flags of every command (`--config`, storage URLs, …) and the mapping of failures to exit
 * codes (README, Command line): 0 ok, 1 runtime failure, 2 usage error (bad flags, bad configuration).
 */
import { Command, Option, UsageError } from 'clipanion';
import { CONFIG_ALIASES, CONFIG_KEYS, ConfigError, loadConfig, type ConfigKey, type LoadedConfig } from '@afm/shared/config';

/**
 * The flags every command takes. They are hidden from each command's help and listed once, in
 * `slamon-afm --help` (cli.ts), so a command's help shows its own options.
 */
export const GLOBAL_FLAGS = {
  config: { names: '-c,--config', arg: 'FILE', description: 'Configuration file: JSON or KEY=value lines (default: $SLAMON_AFM_CFG)' },
  databaseUri: { names: '--database-uri', arg: 'URL', description: 'Postgres URL (DATABASE_URI)' },
  redisUrl: { names: '--redis-url', arg: 'URL', description: 'Redis URL, db number allowed (REDIS_URL)' },
  redisSentinels: { names: '--redis-sentinels', arg: 'LIST', description: 'Sentinels, host:port,… (REDIS_SENTINELS)' },
  redisSentinelName: { names: '--redis-sentinel-name', arg: 'NAME', description: 'Master group the sentinels watch (REDIS_SENTINEL_NAME)' },
  redisClusterNodes: {
    names: '--redis-cluster-nodes',
    arg: 'LIST',
    description: 'Redis Cluster seed nodes, host:port,… (REDIS_CLUSTER_NODES)',
  },
  queuePrefix: { names: '--queue-prefix', arg: 'PREFIX', description: 'Redis key prefix of this AFM (QUEUE_PREFIX)' },
  logLevel: { names: '--log-level', arg: 'LEVEL', description: 'pino level name or number (LOG_LEVEL)' },
  set: { names: '-s,--set', arg: 'KEY=VALUE', description: 'Set any configuration key, e.g. --set AGENT_RETURN_TIME=30 (repeatable)' },
} as const;

const global = (flag: keyof typeof GLOBAL_FLAGS) => ({ hidden: true, description: GLOBAL_FLAGS[flag].description });

export abstract class AfmCommand extends Command {
  configFile = Option.String(GLOBAL_FLAGS.config.names, global('config'));
  databaseUri = Option.String(GLOBAL_FLAGS.databaseUri.names, global('databaseUri'));
  redisUrl = Option.String(GLOBAL_FLAGS.redisUrl.names, global('redisUrl'));
  redisSentinels = Option.String(GLOBAL_FLAGS.redisSentinels.names, global('redisSentinels'));
  redisSentinelName = Option.String(GLOBAL_FLAGS.redisSentinelName.names, global('redisSentinelName'));
  redisClusterNodes = Option.String(GLOBAL_FLAGS.redisClusterNodes.names, global('redisClusterNodes'));
  queuePrefix = Option.String(GLOBAL_FLAGS.queuePrefix.names, global('queuePrefix'));
  logLevel = Option.String(GLOBAL_FLAGS.logLevel.names, global('logLevel'));
  settings = Option.Array(GLOBAL_FLAGS.set.names, global('set'));

  abstract run(): Promise<number | void>;

  async execute(): Promise<number> {
    try {
      return (await this.run()) ?? 0;
    } catch (error) {
      if (error instanceof ConfigError || error instanceof UsageError) {
        this.context.stderr.write(`slamon-afm: ${error.message}\n`);
        return 2;
      }
      this.context.stderr.write(`slamon-afm: ${(error as Error)?.message ?? String(error)}\n`);
      return 1;
    }
  }

  /**
   * The value of an option the command cannot run without. Checked here, not with clipanion's
   * `required: true`, whose parser then answers "Command not found" instead of naming the option.
   */
  protected required<T>(value: T | undefined, flag: string): T {
    if (value === undefined) throw new UsageError(`${flag} is required (see --help)`);
    return value;
  }

  /** Configuration with this command's flags on top (defaults < env < file < flags). */
  protected loadConfig(): LoadedConfig {
    const flags: Record<string, string | undefined> = {};
    for (const setting of this.settings ?? []) {
      const eq = setting.indexOf('=');
      if (eq <= 0) throw new UsageError(`--set takes KEY=value, got ${JSON.stringify(setting)}`);
      const key = setting.slice(0, eq).trim().toUpperCase();
      if (!CONFIG_KEYS.includes(key as ConfigKey) && !(key in CONFIG_ALIASES)) {
        throw new UsageError(`--set: unknown configuration key ${key}`);
      }
      flags[key] = setting.slice(eq + 1);
    }
    Object.assign(flags, {
      DATABASE_URI: this.databaseUri ?? flags.DATABASE_URI,
      REDIS_URL: this.redisUrl ?? flags.REDIS_URL,
      REDIS_SENTINELS: this.redisSentinels ?? flags.REDIS_SENTINELS,
      REDIS_SENTINEL_NAME: this.redisSentinelName ?? flags.REDIS_SENTINEL_NAME,
      REDIS_CLUSTER_NODES: this.redisClusterNodes ?? flags.REDIS_CLUSTER_NODES,
      QUEUE_PREFIX: this.queuePrefix ?? flags.QUEUE_PREFIX,
      LOG_LEVEL: this.logLevel ?? flags.LOG_LEVEL,
    });
    return loadConfig({ env: this.context.env, ...(this.configFile ? { file: this.configFile } : {}), flags });
  }
}
