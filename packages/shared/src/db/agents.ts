/**
 * Agent repository: every query on the `agents` table. Functions take the Kysely
 * instance (or a transaction) first. Rows go in as arrays (`unnest`), so a statement has a fixed number
 * of parameters however many rows it carries — Postgres refuses more than 65,535 — and large writes are
 * cut into chunks that keep each statement small.
 */
import { sql, type Kysely } from 'kysely';
import { chunksByWeight } from '../batcher.js';
import type { AgentLocation } from '../protocol.js';
import { replaceCapabilities } from './agent-capabilities.js';
import type { Agent, Database } from './schema.js';

type Db = Kysely<Database>;

/** An agent as a poll left it in Redis: what Postgres keeps of it. */
export interface AgentRecord {
  id: string;
  name: string;
  location: AgentLocation | undefined;
  capabilities: { task_type: string; task_version: number }[];
  first_seen: Date;
  last_seen: Date;
}

/** Most capability rows (and so roughly most rows) in one statement. */
export const ROWS_PER_STATEMENT = 5_000;

/**
 * Inserts or updates agents: name, location and capabilities replaced, first seen kept as the earliest,
 * last seen as the latest. Each chunk of agents is one transaction.
 */
export async function upsertAgents(db: Db, agents: AgentRecord[]): Promise<void> {
  for (const chunk of chunksByWeight(agents, (agent) => 1 + agent.capabilities.length, ROWS_PER_STATEMENT)) {
    await db.transaction().execute(async (trx) => {
      await sql`
        insert into agents (id, name, country, region, latitude, longitude, first_seen, last_seen)
        select * from unnest(
          ${chunk.map((agent) => agent.id)}::uuid[],
          ${chunk.map((agent) => agent.name)}::text[],
          ${chunk.map((agent) => agent.location?.country ?? null)}::text[],
          ${chunk.map((agent) => agent.location?.region ?? null)}::text[],
          ${chunk.map((agent) => agent.location?.latitude ?? null)}::double precision[],
          ${chunk.map((agent) => agent.location?.longitude ?? null)}::double precision[],
          ${chunk.map((agent) => agent.first_seen.toISOString())}::timestamptz[],
          ${chunk.map((agent) => agent.last_seen.toISOString())}::timestamptz[]
        )
        on conflict (id) do update set
          name = excluded.name,
          country = excluded.country,
          region = excluded.region,
          latitude = excluded.latitude,
          longitude = excluded.longitude,
          first_seen = least(agents.first_seen, excluded.first_seen),
          last_seen = greatest(agents.last_seen, excluded.last_seen)`.execute(trx);
      await replaceCapabilities(trx, chunk);
    });
  }
}

/** Deletes these agents (their capabilities go with them); returns the ids deleted. */
export async function deleteAgents(db: Db, ids: string[]): Promise<string[]> {
  if (ids.length === 0) return [];
  const rows = await db
    .deleteFrom('agents')
    .where('id', '=', sql<string>`any(${ids}::uuid[])`)
    .returning('id')
    .execute();
  return rows.map((row) => row.id);
}

/** Deletes agents last seen before `cutoff`; returns their ids. */
export async function deleteAgentsUnseenSince(db: Db, cutoff: Date): Promise<string[]> {
  const rows = await db.deleteFrom('agents').where('last_seen', '<', cutoff).returning('id').execute();
  return rows.map((row) => row.id);
}

export async function findAgent(db: Db, id: string): Promise<Agent | undefined> {
  return db.selectFrom('agents').selectAll().where('id', '=', id).executeTakeFirst();
}

/**
 * Agents, most recently seen first, a page at a time (keyset on last_seen, id): those seen since
 * `activeSince` (`active` true), before it (false), or all.
 */
export async function listAgentRows(
  db: Db,
  { active, activeSince, after, limit }: { active?: boolean; activeSince: Date; after?: { at: Date; id: string }; limit: number },
): Promise<Agent[]> {
  let query = db.selectFrom('agents').selectAll();
  if (active === true) query = query.where('last_seen', '>=', activeSince);
  if (active === false) query = query.where('last_seen', '<', activeSince);
  if (after) query = query.where(sql<boolean>`(last_seen, id) < (${after.at}, ${after.id}::uuid)`);
  return query.orderBy('last_seen', 'desc').orderBy('id', 'desc').limit(limit).execute();
}
