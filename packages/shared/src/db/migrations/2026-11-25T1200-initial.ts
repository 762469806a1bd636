/** Initial schema: tasks, agents and their capabilities. Frozen: later changes go in new migrations. */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('tasks')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('test_id', 'uuid', (col) => col.notNull())
    .addColumn('task_type', 'text', (col) => col.notNull())
    .addColumn('task_version', 'integer', (col) => col.notNull())
    .addColumn('task_data', 'jsonb', (col) => col.notNull())
    .addColumn('state', 'text', (col) =>
      col
        .notNull()
        .defaultTo('waiting')
        .check(sql`state in ('waiting', 'claimed', 'completed', 'failed')`),
    )
    .addColumn('posted_at', 'timestamptz', (col) => col.notNull())
    .addColumn('claimed_at', 'timestamptz')
    .addColumn('agent_id', 'uuid')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('result', 'jsonb')
    .addColumn('error', 'text')
    .execute();
  await db.schema.createIndex('tasks_test_id').on('tasks').column('test_id').execute();
  // Work on unfinished tasks (reconcile, cleanup) must not grow with the history of finished ones.
  await db.schema
    .createIndex('tasks_unfinished_posted_at')
    .on('tasks')
    .column('posted_at')
    .where(sql.ref('finished_at'), 'is', null)
    .execute();
  await db.schema.createIndex('tasks_agent_id').on('tasks').column('agent_id').execute();

  await db.schema
    .createTable('agents')
    .addColumn('id', 'uuid', (col) => col.primaryKey())
    .addColumn('name', 'text', (col) => col.notNull())
    .addColumn('country', 'text')
    .addColumn('region', 'text')
    .addColumn('latitude', 'double precision')
    .addColumn('longitude', 'double precision')
    .addColumn('first_seen', 'timestamptz', (col) => col.notNull())
    .addColumn('last_seen', 'timestamptz', (col) => col.notNull())
    .execute();
  await db.schema.createIndex('agents_last_seen').on('agents').column('last_seen').execute();

  await db.schema
    .createTable('agent_capabilities')
    .addColumn('agent_id', 'uuid', (col) => col.notNull().references('agents.id').onDelete('cascade'))
    .addColumn('task_type', 'text', (col) => col.notNull())
    .addColumn('task_version', 'integer', (col) => col.notNull())
    .addPrimaryKeyConstraint('agent_capabilities_pkey', ['agent_id', 'task_type', 'task_version'])
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('agent_capabilities').ifExists().execute();
  await db.schema.dropTable('agents').ifExists().execute();
  await db.schema.dropTable('tasks').ifExists().execute();
}
