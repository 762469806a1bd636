/**
 * The Postgres schema as Kysely sees it: one interface per table, `Generated` for columns the
 * database fills, `T | null` for nullable ones. Postgres is AFM's system of record (the invariants (README, Development)).
 */
import type { ColumnType, Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { FailureCause } from '../dispatch/states.js';
import type { JsonObject } from '../protocol.js';

export type TaskState = 'waiting' | 'claimed' | 'completed' | 'failed';
export const TASK_STATES: readonly TaskState[] = ['waiting', 'claimed', 'completed', 'failed'];

type Json = ColumnType<JsonObject, JsonObject | string, JsonObject | string>;
type Timestamp = ColumnType<Date, Date | string, Date | string>;

export interface TaskTable {
  id: string;
  test_id: string;
  task_type: string;
  task_version: number;
  task_data: Json;
  state: Generated<TaskState>;
  posted_at: Timestamp;
  claimed_at: Timestamp | null;
  agent_id: string | null;
  finished_at: Timestamp | null;
  /** When Postgres recorded the outcome (finished_at is when it happened). */
  stored_at: Timestamp | null;
  result: Json | null;
  error: string | null;
  /** Why a failed task failed; null for other states and for failures stored before AFM recorded it. */
  failure: FailureCause | null;
  ttl_s: number | null;
  timeout_s: number | null;
  retries: number | null;
  attempts: Generated<number>;
  location_country: string | null;
  location_region: string | null;
}

export interface AgentTable {
  id: string;
  name: string;
  country: string | null;
  region: string | null;
  latitude: number | null;
  longitude: number | null;
  first_seen: Timestamp;
  last_seen: Timestamp;
}

export interface AgentCapabilityTable {
  agent_id: string;
  task_type: string;
  task_version: number;
}

export interface Database {
  tasks: TaskTable;
  agents: AgentTable;
  agent_capabilities: AgentCapabilityTable;
}

export type Task = Selectable<TaskTable>;
export type NewTask = Insertable<TaskTable>;
export type TaskUpdate = Updateable<TaskTable>;
export type Agent = Selectable<AgentTable>;
export type NewAgent = Insertable<AgentTable>;
export type AgentCapability = Selectable<AgentCapabilityTable>;
