/**
 * Schema management with Kysely's Migrator (which takes a Postgres advisory lock, so replicas starting
 * together migrate once). Migrations are listed here in order; each file is frozen once released.
 */
import {
  DEFAULT_MIGRATION_LOCK_TABLE,
  DEFAULT_MIGRATION_TABLE,
  Migrator,
  NO_MIGRATIONS,
  sql,
  type Kysely,
  type Migration,
  type MigrationResultSet,
} from 'kysely';
import * as initial from './migrations/2026-11-25T1200-initial.js';
import * as taskListing from './migrations/2026-11-25T1500-task-listing.js';
import * as taskOptions from './migrations/2026-11-25T1700-task-options.js';
import * as storedAt from './migrations/2026-12-02T1700-stored-at.js';
import * as failureCause from './migrations/2026-12-03T0000-failure-cause.js';
import type { Database } from './schema.js';

export const MIGRATIONS: Record<string, Migration> = {
  '2026-11-25T1200-initial': initial,
  '2026-11-25T1500-task-listing': taskListing,
  '2026-11-25T1700-task-options': taskOptions,
  '2026-12-02T1700-stored-at': storedAt,
  '2026-12-03T0000-failure-cause': failureCause,
};

function migrator(db: Kysely<Database>): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } });
}

function unwrap(resultSet: MigrationResultSet): string[] {
  if (resultSet.error) {
    const failed = resultSet.results?.find((result) => result.status === 'Error');
    const error = resultSet.error instanceof Error ? resultSet.error : new Error(String(resultSet.error));
    if (failed) error.message = `migration ${failed.migrationName} failed: ${error.message}`;
    throw error;
  }
  return (resultSet.results ?? []).map((result) => `${result.direction === 'Up' ? 'applied' : 'reverted'} ${result.migrationName}`);
}

/** Applies pending migrations (`create-tables`, `migrate`, AUTO_CREATE). Returns what was done. */
export async function migrateToLatest(db: Kysely<Database>): Promise<string[]> {
  return unwrap(await migrator(db).migrateToLatest());
}

/**
 * Reverts every migration (`drop-tables`), then drops Kysely's own bookkeeping tables: nothing of AFM
 * is left, and the next `migrate` starts as on an empty database.
 */
export async function dropAll(db: Kysely<Database>): Promise<string[]> {
  const done = unwrap(await migrator(db).migrateTo(NO_MIGRATIONS));
  const bookkeeping = [DEFAULT_MIGRATION_TABLE, DEFAULT_MIGRATION_LOCK_TABLE];
  const present = await sql<{ tablename: string }>`
    select tablename from pg_tables where schemaname = current_schema() and tablename in (${sql.join(bookkeeping)})`.execute(db);
  for (const table of bookkeeping.filter((name) => present.rows.some((row) => row.tablename === name))) {
    await db.schema.dropTable(table).ifExists().execute();
    done.push(`dropped ${table}`);
  }
  return done;
}
