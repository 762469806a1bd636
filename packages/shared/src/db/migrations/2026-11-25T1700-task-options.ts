/** Task options (AFM extensions): time to live, timeout, retries with their attempt count, location. Frozen. */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('tasks')
    .addColumn('ttl_s', 'double precision')
    .addColumn('timeout_s', 'double precision')
    .addColumn('retries', 'integer')
    .addColumn('attempts', 'integer', (col) => col.notNull().defaultTo(0))
    .addColumn('location_country', 'text')
    .addColumn('location_region', 'text')
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('tasks')
    .dropColumn('ttl_s')
    .dropColumn('timeout_s')
    .dropColumn('retries')
    .dropColumn('attempts')
    .dropColumn('location_country')
    .dropColumn('location_region')
    .execute();
}
