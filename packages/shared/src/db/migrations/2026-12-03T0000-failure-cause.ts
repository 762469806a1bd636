/** Why a failed task failed (issue 15): an agent's error told from AFM's expiry, timeout, silence, drain and cancel. Frozen. */
import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('tasks')
    .addColumn('failure', 'text', (column) =>
      column.check(sql`failure in ('agent_error', 'ttl_expired', 'timed_out', 'agent_silent', 'drained', 'cancelled')`),
    )
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('tasks').dropColumn('failure').execute();
}
