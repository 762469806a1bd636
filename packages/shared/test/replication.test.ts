// Issue 13, REDIS_ACK_REPLICAS at the Redis level (dispatch/replication.ts), on a real primary with a
// replica: concurrent callers share WAIT rounds; a round's fence covers writes made on any other
// connection; a connection that closed after a caller's first write voids the proof; too few
// replicas is a 503 saying how many held it. And keySlot against Redis Cluster's hash-tag rules.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReplicaAcks } from '../src/dispatch/replication.js';
import { connectRedis, createRedis, keySlot, type RedisClient } from '../src/redis.js';
import { startReplicatedRedis, type ReplicatedRedis } from '../testing/redis-servers.js';
import { waitFor } from '../testing/wait.js';

describe('keySlot', () => {
  it('follows the cluster specification: CRC16 of the first non-empty {tag}, or of the key', () => {
    expect(keySlot('123456789')).toBe(12_739); // the CRC16/XMODEM check value, 0x31C3
    expect(keySlot('{user1000}.following')).toBe(keySlot('user1000'));
    expect(keySlot('{slamon}:afm:t:x')).toBe(keySlot('{slamon}:bull:wait'));
    expect(keySlot('foo{}{bar}')).not.toBe(keySlot('bar'));
    expect(keySlot('foo{{bar}}zap')).toBe(keySlot('{bar'));
  });
});

describe('ReplicaAcks', () => {
  let servers: ReplicatedRedis;
  const clients: RedisClient[] = [];
  const client = async () => {
    const redis = createRedis(servers.url, 'client');
    redis.on('error', () => undefined);
    await connectRedis(redis);
    clients.push(redis);
    return redis;
  };
  beforeAll(async () => {
    servers = await startReplicatedRedis({ replicas: 1 });
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled(clients.map((redis) => redis.quit()));
    await servers?.close();
  });

  const waits = async () =>
    Number(/cmdstat_wait:calls=(\d+)/.exec(await servers.primary.ask((redis) => redis.info('commandstats')))?.[1] ?? 0);

  it('confirms concurrent callers in shared rounds, covering writes of other connections', async () => {
    const [acks, writer] = [await client(), await client()];
    const replication = new ReplicaAcks({ acks, writers: [writer], replicas: 1, timeoutMs: 2_000, fenceKey: '{t}:fence' });
    const before = await waits();
    const since = Date.now();
    await Promise.all(
      Array.from({ length: 50 }, async (_, n) => {
        await writer.set(`{t}:k${n}`, String(n));
        await replication.confirm(since);
        // Acknowledged means the replica has it now, not eventually.
        expect(await servers.replicas[0]!.ask((redis) => redis.get(`{t}:k${n}`))).toBe(String(n));
      }),
    );
    const rounds = (await waits()) - before;
    expect(rounds).toBeGreaterThanOrEqual(1);
    expect(rounds, 'rounds shared by the 50 callers').toBeLessThanOrEqual(10);
  });

  it('refuses to confirm when a connection closed after the write, or too few replicas hold it', async () => {
    const [acks, writer] = [await client(), await client()];
    const replication = new ReplicaAcks({ acks, writers: [writer], replicas: 1, timeoutMs: 500, fenceKey: '{t}:fence' });
    const since = Date.now();
    await writer.set('{t}:moved', '1');
    const id = await writer.client('ID');
    const closed = once(writer, 'close');
    await servers.primary.ask((redis) => redis.client('KILL', 'ID', String(id)));
    await closed;
    await waitFor(() => writer.status === 'ready', { what: 'the writer reconnected' });
    await expect(replication.confirm(since)).rejects.toThrow(/replication not confirmed: the connection to the Redis primary changed/);
    // A request that began after the change is confirmed again.
    await replication.confirm(Date.now() + 1);

    const two = new ReplicaAcks({ acks, writers: [writer], replicas: 2, timeoutMs: 200, fenceKey: '{t}:fence' });
    await expect(two.confirm(Date.now())).rejects.toThrow(/1 of 2 replicas \(REDIS_ACK_REPLICAS\) held the write within 200 ms; try again/);
  });
});
