// Issue 8: Postgres connections that die must not take the process down (found by the fault tests:
// a replica crashed when Postgres stopped mid-query) and must not put connection secrets in logs.
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql, type Kysely } from 'kysely';
import { createDb } from '../src/db/connect.js';
import type { Database } from '../src/db/schema.js';
import { createTestEnv, type TestEnv } from '../testing/env.js';
import { waitFor } from '../testing/wait.js';

let env: TestEnv;
let direct: Kysely<Database>;
beforeAll(async () => {
  env = await createTestEnv('connect');
  direct = createDb(env.config.DATABASE_URI, { max: 1 });
});
afterAll(async () => {
  await direct.destroy();
  await env.cleanup();
});

const terminate = (pid: number) => sql`select pg_terminate_backend(${pid})`.execute(direct);

const backendPid = sql<{ pid: number }>`select pg_backend_pid() as pid`;

describe('createDb', () => {
  it('survives a connection dropped in the middle of a query (no goodbye from the server), and recovers', async () => {
    // Postgres stopped with `-m immediate` just closes its sockets: stand in for it with a proxy that does so.
    const sockets = new Set<Socket>();
    const upstream = new URL(env.config.DATABASE_URI);
    const proxy = createServer((client) => {
      const server = connect(Number(upstream.port || 5432), upstream.hostname);
      for (const socket of [client, server]) {
        sockets.add(socket);
        socket.on('error', () => undefined);
      }
      client.pipe(server).pipe(client);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    const viaProxy = new URL(env.config.DATABASE_URI);
    viaProxy.host = `127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const db = createDb(viaProxy.toString(), { max: 1 });
    try {
      const first = (await backendPid.execute(db)).rows[0]!.pid;
      const query = sql`select pg_sleep(10)`.execute(db).then(
        () => 'finished',
        (error: unknown) => error,
      );
      await waitFor(
        async () =>
          (
            await sql<{
              n: number;
            }>`select count(*)::int as n from pg_stat_activity where pid = ${first} and query like 'select pg_sleep%'`.execute(direct)
          ).rows[0]!.n === 1,
        { what: 'the query to run' },
      );
      for (const socket of sockets) socket.destroy();
      expect(await query).toBeInstanceOf(Error);
      // The dead client went back to the pool and was dropped: the next query gets a new connection.
      expect((await backendPid.execute(db)).rows[0]!.pid).not.toBe(first);
    } finally {
      await db.destroy();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => proxy.close(resolve));
    }
  });

  it('reports an idle connection that died without the client object (connection parameters, password) on the error', async () => {
    const errors: Error[] = [];
    const db = createDb(env.config.DATABASE_URI.replace('postgres@', 'postgres:s3cret-pw@'), {
      max: 1,
      onError: (error) => errors.push(error),
    });
    try {
      const { pid } = (await backendPid.execute(db)).rows[0]!;
      await terminate(pid);
      await waitFor(() => errors.length > 0, { what: 'the idle connection error' });
      expect(errors[0]).not.toHaveProperty('client');
      expect(JSON.stringify({ ...errors[0] })).not.toContain('s3cret-pw');
    } finally {
      await db.destroy();
    }
  });
});
