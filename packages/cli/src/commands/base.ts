/**
 * Shared flags of every command (`--config`, storage URLs, …) and the mapping of failures to exit
 * codes (SPEC §6): 0 ok, 1 runtime failure, 2 usage error (bad flags, bad configuration).
 */
import { Command, Option, UsageError } from 'clipanion';
import { ConfigError, loadConfig, type LoadedConfig } from '@afm/shared/config';

export abstract class AfmCommand extends Command {
  configFile = Option.String('-c,--config', {
    description: 'Configuration file: JSON or KEY=value lines (default: $SLAMON_AFM_CFG)',
  });
  databaseUri = Option.String('--database-uri', { description: 'Postgres URL (DATABASE_URI)' });
  redisUrl = Option.String('--redis-url', { description: 'Redis URL, db number allowed (REDIS_URL)' });
  queuePrefix = Option.String('--queue-prefix', { description: 'Redis key prefix of this AFM (QUEUE_PREFIX)' });
  logLevel = Option.String('--log-level', { description: 'pino level name or number (LOG_LEVEL)' });

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
    return loadConfig({
      env: this.context.env,
      ...(this.configFile ? { file: this.configFile } : {}),
      flags: {
        DATABASE_URI: this.databaseUri,
        REDIS_URL: this.redisUrl,
        QUEUE_PREFIX: this.queuePrefix,
        LOG_LEVEL: this.logLevel,
      },
    });
  }
}
