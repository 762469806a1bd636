/** `migrate` (alias `create-tables`) and `drop-tables`: schema management (Kysely migrations). */
import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'clipanion';
import { describeRedis } from '@afm/shared/config';
import { createDb, ensureDatabase, postgresError } from '@afm/shared/db/connect';
import { dropAll, migrateToLatest } from '@afm/shared/db/migrate';
import { deleteDeployment } from '@afm/shared/dispatch/dispatch';
import { connectRedis, createRedis, type RedisClient } from '@afm/shared/redis';
import { AfmCommand } from './base.js';

export class MigrateCommand extends AfmCommand {
  static override paths = [['migrate'], ['create-tables']];
  static override usage = Command.Usage({
    description: 'Create the database and tables, or apply pending migrations',
    details:
      'Safe to run at any time and from several machines at once: pending migrations are applied once. `create-tables` is the same command.',
  });

  async run() {
    const { config } = this.loadConfig();
    const db = createDb(config.DATABASE_URI, { max: 1 });
    try {
      if (await ensureDatabase(config.DATABASE_URI)) this.context.stdout.write('created database\n');
      const done = await migrateToLatest(db);
      this.context.stdout.write(done.length > 0 ? `${done.join('\n')}\n` : 'schema is up to date\n');
    } catch (error) {
      throw postgresError(config.DATABASE_URI, error);
    } finally {
      await db.destroy();
    }
  }
}

export class DropTablesCommand extends AfmCommand {
  static override paths = [['drop-tables']];
  static override usage = Command.Usage({
    description: "Drop AFM's tables and everything in them; with --redis, its Redis keys too",
    details:
      "Reverts every migration and drops Kysely's migration tables, so a later `migrate` starts clean. `--redis` also deletes every Redis key under this deployment's QUEUE_PREFIX (queues, claims, agents, results not yet written), on every primary of a Cluster; other prefixes are left alone. Asks for confirmation on a terminal; scripts must pass `--yes`.",
    examples: [
      ['Drop without asking', '$0 drop-tables --yes'],
      ['Reset the deployment, Postgres and Redis', '$0 drop-tables --redis --yes'],
    ],
  });

  yes = Option.Boolean('-y,--yes', false, { description: 'Do not ask for confirmation' });
  redis = Option.Boolean('--redis', false, { description: 'Also delete every Redis key of this deployment (QUEUE_PREFIX)' });

  async run() {
    const { config } = this.loadConfig();
    const database = new URL(config.DATABASE_URI).pathname.slice(1);
    const what = this.redis
      ? `every AFM table in ${database} and every Redis key under ${config.QUEUE_PREFIX}:`
      : `every AFM table in ${database}`;
    if (!this.yes && !(await this.confirm(`Drop ${what}?`))) {
      this.context.stderr.write('slamon-afm: nothing dropped (pass --yes to confirm)\n');
      return 2;
    }
    // Reach Redis before dropping anything, so an unreachable Redis leaves both stores as they were.
    const redis = this.redis ? await this.openRedis(config) : undefined;
    try {
      const db = createDb(config.DATABASE_URI, { max: 1 });
      try {
        const done = await dropAll(db);
        this.context.stdout.write(done.length > 0 ? `${done.join('\n')}\n` : 'no tables to drop\n');
      } catch (error) {
        throw postgresError(config.DATABASE_URI, error);
      } finally {
        await db.destroy();
      }
      if (redis) {
        const deleted = await deleteDeployment(redis, config.QUEUE_PREFIX);
        this.context.stdout.write(`deleted ${deleted} Redis key${deleted === 1 ? '' : 's'} under ${config.QUEUE_PREFIX}:\n`);
      }
    } finally {
      await redis?.quit().catch(() => undefined);
    }
  }

  private async openRedis(config: Parameters<typeof describeRedis>[0]): Promise<RedisClient> {
    const redis = createRedis(config, 'client', 'afm-cli', { reconnect: false });
    redis.on('error', () => undefined);
    try {
      await connectRedis(redis);
      return redis;
    } catch (error) {
      redis.disconnect();
      throw new Error(`cannot reach Redis, ${describeRedis(config)}: ${(error as Error).message}`, { cause: error });
    }
  }

  private async confirm(question: string): Promise<boolean> {
    const stdin = this.context.stdin as NodeJS.ReadStream;
    if (!stdin.isTTY) return false;
    const prompt = createInterface({ input: stdin, output: this.context.stderr });
    try {
      return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
    } finally {
      prompt.close();
    }
  }
}
