/** `migrate` (alias `create-tables`) and `drop-tables`: schema management (Kysely migrations). */
import { createInterface } from 'node:readline/promises';
import { Command, Option } from 'clipanion';
import { createDb, ensureDatabase, postgresError } from '@afm/shared/db/connect';
import { dropAll, migrateToLatest } from '@afm/shared/db/migrate';
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
    description: "Drop AFM's tables and everything in them",
    details: 'Asks for confirmation on a terminal; scripts must pass `--yes`.',
    examples: [['Drop without asking', '$0 drop-tables --yes']],
  });

  yes = Option.Boolean('-y,--yes', false, { description: 'Do not ask for confirmation' });

  async run() {
    const { config } = this.loadConfig();
    if (!this.yes && !(await this.confirm(`Drop every AFM table in ${new URL(config.DATABASE_URI).pathname.slice(1)}?`))) {
      this.context.stderr.write('slamon-afm: nothing dropped (pass --yes to confirm)\n');
      return 2;
    }
    const db = createDb(config.DATABASE_URI, { max: 1 });
    try {
      const done = await dropAll(db);
      this.context.stdout.write(done.length > 0 ? `${done.join('\n')}\n` : 'no tables to drop\n');
    } catch (error) {
      throw postgresError(config.DATABASE_URI, error);
    } finally {
      await db.destroy();
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
