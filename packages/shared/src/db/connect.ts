/** Postgres connections: one pg pool behind one Kysely instance per process. */
import { userInfo } from 'node:os';
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { maskSecret } from '../config.js';
import { isStorageUnavailable } from '../errors.js';
import type { Database } from './schema.js';

// Return int8 (counts) as numbers: AFM's counts stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

export interface DbOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Called for errors of idle pooled connections (e.g. Postgres restarted); the pool replaces them. */
  onError?: (error: Error) => void;
  /** Called when the pool has opened a connection (after an outage: Postgres is back). */
  onConnect?: () => void;
  /** Called with the SQL and duration of every query (tracing, tests). */
  onQuery?: (sql: string, ms: number) => void;
}

/**
 * Like libpq, a URL without a user name connects as PGUSER or else the operating-system user (node-pg
 * would read $USER, which service managers and containers often leave unset).
 */
export function connectionString(uri: string): string {
  const url = new URL(uri);
  if (!url.username) url.username = process.env.PGUSER || process.env.USER || userInfo().username;
  return url.toString();
}

export function createDb(uri: string, options: DbOptions = {}): Kysely<Database> {
  const pool = new pg.Pool({
    connectionString: connectionString(uri),
    max: options.max ?? 10,
    // Fail fast when Postgres is down, so requests answer 503 instead of hanging.
    connectionTimeoutMillis: 5_000,
    idleTimeoutMillis: 30_000,
  });
  pool.on('error', (error) => {
    // pg-pool hangs the client (with its connection parameters, password included) on the error: keep it out of logs.
    delete (error as Error & { client?: unknown }).client;
    options.onError?.(error);
  });
  // The pool listens for errors only on idle clients. A checked-out client whose server goes away
  // emits 'error' too, besides failing its query; unheard, that event would crash the process. The
  // query's caller gets the error, and the pool drops the dead client when it comes back.
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
    options.onConnect?.();
  });
  const { onQuery } = options;
  return new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    ...(onQuery ? { log: (event) => onQuery(event.query.sql, event.queryDurationMillis) } : {}),
  });
}

/** Creates the database named in `uri` when it does not exist yet (AUTO_CREATE on a fresh server). */
export async function ensureDatabase(uri: string): Promise<boolean> {
  const client = new pg.Client({ connectionString: connectionString(uri), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
    return false;
  } catch (error) {
    if ((error as { code?: string }).code !== '3D000') throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
  const target = new URL(connectionString(uri));
  const name = decodeURIComponent(target.pathname.slice(1));
  target.pathname = '/postgres';
  const admin = new pg.Client({ connectionString: target.toString(), connectionTimeoutMillis: 5_000 });
  await admin.connect();
  try {
    await admin.query(`create database ${pg.escapeIdentifier(name)}`);
  } catch (error) {
    // Another process created it at the same moment.
    if ((error as { code?: string }).code !== '42P04') throw error;
  } finally {
    await admin.end();
  }
  return true;
}

/** An error of Postgres as an operator should read it: which server (password masked), and what happened. */
export function postgresError(uri: string, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  const what = isStorageUnavailable(error) ? 'cannot reach Postgres at' : 'Postgres at';
  return new Error(`${what} ${maskSecret(uri)}: ${message}`, { cause: error });
}

/** Whether Postgres answers: one trivial query. */
export async function ping(db: Kysely<Database>): Promise<void> {
  await sql`select 1`.execute(db);
}
