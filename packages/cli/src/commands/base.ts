/**
 * Shared flags of every command (`--config`, storage URLs, …) and the mapping of failures to exit
 * codes (README, Command line): 0 ok, 1 runtime failure, 2 usage error (bad flags, bad configuration).
 */
import { Command, Option, UsageError } from 'clipanion';
import { CONFIG_ALIASES, CONFIG_KEYS, ConfigError, loadConfig, type ConfigKey, type LoadedConfig } from '@afm/shared/config';

export abstract class AfmCommand extends Command {
  configFile = Option.String('-c,--config', {
    description: 'Configuration file: JSON or KEY=value lines (default: $SLAMON_AFM_CFG)',
  });
  databaseUri = Option.String('--database-uri', { description: 'Postgres URL (DATABASE_URI)' });
  redisUrl = Option.String('--redis-url', { description: 'Redis URL, db number allowed (REDIS_URL)' });
  redisSentinels = Option.String('--redis-sentinels', { description: 'Sentinels, host:port,… (REDIS_SENTINELS)' });
  redisSentinelName = Option.String('--redis-sentinel-name', { description: 'Master group the sentinels watch (REDIS_SENTINEL_NAME)' });
  redisClusterNodes = Option.String('--redis-cluster-nodes', {
    description: 'Redis Cluster seed nodes, host:port,… (REDIS_CLUSTER_NODES)',
  });
  queuePrefix = Option.String('--queue-prefix', { description: 'Redis key prefix of this AFM (QUEUE_PREFIX)' });
  logLevel = Option.String('--log-level', { description: 'pino level name or number (LOG_LEVEL)' });
  settings = Option.Array('-s,--set', {
    description: 'Set any configuration key, e.g. --set AGENT_RETURN_TIME=30 (repeatable)',
  });

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
