/**
 * Schema management with Kysely's Migrator (which takes a Postgres advisory lock, so replicas starting
 * together migrate once). Migrations are listed here in order; each file is frozen once released.
 */
import { Migrator, NO_MIGRATIONS, type Kysely, type Migration, type MigrationResultSet } from 'kysely';
import * as initial from './migrations/2026-11-25T1200-initial.js';
import * as taskListing from './migrations/2026-11-25T1500-task-listing.js';
import * as taskOptions from './migrations/2026-11-25T1700-task-options.js';
import type { Database } from './schema.js';

export const MIGRATIONS: Record<string, Migration> = {
  '2026-11-25T1200-initial': initial,
  '2026-11-25T1500-task-listing': taskListing,
  '2026-11-25T1700-task-options': taskOptions,
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

/** Reverts every migration (`drop-tables`): AFM's tables are gone afterwards. */
export async function dropAll(db: Kysely<Database>): Promise<string[]> {
  return unwrap(await migrator(db).migrateTo(NO_MIGRATIONS));
}
