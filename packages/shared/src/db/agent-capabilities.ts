/**
 * Capability repository: every query on the `agent_capabilities` table (what task types and versions
 * each agent runs, as its last poll said). Functions take the Kysely instance (or a transaction) first.
 */
import { sql, type Kysely, type Transaction } from 'kysely';
import type { AgentCapability, Database } from './schema.js';

type Db = Kysely<Database> | Transaction<Database>;

/** Replaces the capabilities of these agents with the ones given (rows as arrays: see agents.ts). */
export async function replaceCapabilities(
  db: Db,
  agents: { id: string; capabilities: { task_type: string; task_version: number }[] }[],
): Promise<void> {
  const ids = agents.map((agent) => agent.id);
  await db
    .deleteFrom('agent_capabilities')
    .where('agent_id', '=', sql<string>`any(${ids}::uuid[])`)
    .execute();
  const rows = agents.flatMap((agent) => agent.capabilities.map((capability) => ({ agent_id: agent.id, ...capability })));
  if (rows.length === 0) return;
  await sql`
    insert into agent_capabilities (agent_id, task_type, task_version)
    select * from unnest(
      ${rows.map((row) => row.agent_id)}::uuid[],
      ${rows.map((row) => row.task_type)}::text[],
      ${rows.map((row) => row.task_version)}::int[]
    )`.execute(db);
}

/** The capabilities of these agents, by task type. */
export async function capabilitiesOf(db: Db, agentIds: string[]): Promise<AgentCapability[]> {
  if (agentIds.length === 0) return [];
  return db
    .selectFrom('agent_capabilities')
    .selectAll()
    .where('agent_id', '=', sql<string>`any(${agentIds}::uuid[])`)
    .orderBy('task_type')
    .execute();
}

/** Agents seen since `since` able to run each task type and version. */
export async function activeAgentsPerCapability(
  db: Db,
  since: Date,
): Promise<{ task_type: string; task_version: number; agents: number }[]> {
  const rows = await db
    .selectFrom('agent_capabilities as c')
    .innerJoin('agents as a', 'a.id', 'c.agent_id')
    .select((eb) => ['c.task_type', 'c.task_version', eb.fn.countAll<number>().as('agents')])
    .where('a.last_seen', '>=', since)
    .groupBy(['c.task_type', 'c.task_version'])
    .execute();
  return rows.map((row) => ({ ...row, agents: Number(row.agents) }));
}

/** The same, per country and region of agents that have a location. */
export async function activeAgentsPerCapabilityAndLocation(
  db: Db,
  since: Date,
): Promise<{ task_type: string; task_version: number; country: string | null; region: string | null; agents: number }[]> {
  const rows = await db
    .selectFrom('agents as a')
    .innerJoin('agent_capabilities as c', 'c.agent_id', 'a.id')
    .select((eb) => ['c.task_type', 'c.task_version', 'a.country', 'a.region', eb.fn.countAll<number>().as('agents')])
    .where('a.last_seen', '>=', since)
    .where('a.country', 'is not', null)
    .groupBy(['c.task_type', 'c.task_version', 'a.country', 'a.region'])
    .execute();
  return rows.map((row) => ({ ...row, agents: Number(row.agents) }));
}
