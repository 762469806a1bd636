/** Indexes for listing tasks newest first, overall and per type (CLI `tasks list`, read API). Frozen. */
import type { Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('tasks_posted_at_id').on('tasks').columns(['posted_at', 'id']).execute();
  await db.schema.createIndex('tasks_type_posted_at').on('tasks').columns(['task_type', 'task_version', 'posted_at']).execute();
  await db.schema.createIndex('tasks_state_posted_at').on('tasks').columns(['state', 'posted_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('tasks_state_posted_at').ifExists().execute();
  await db.schema.dropIndex('tasks_type_posted_at').ifExists().execute();
  await db.schema.dropIndex('tasks_posted_at_id').ifExists().execute();
}
