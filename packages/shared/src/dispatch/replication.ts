/**
 * REDIS_ACK_REPLICAS (README, Redis topologies): a write is acknowledged to a client only once N
 * replicas hold it, so a replica promoted after the primary died has it.
 *
 * Redis WAIT counts the writes of the connection it is sent on, and blocks that connection while it
 * waits. So each round writes a fence (an INCR under the deployment's hash tag) and WAITs for it on a
 * connection of its own: a primary replicates in order, so a replica that holds the fence holds every
 * write the primary had taken before it — from any connection, any API replica. Callers share rounds (a
 * group commit): a round covers every write answered before its fence was sent, and callers arriving
 * during a round wait for the next one.
 *
 * A fence proves nothing about a write made on another primary: when any connection involved closed or
 * the deployment's slot moved to another node after a caller's first write, the caller gets a 503.
 */
import { Cluster, type Redis } from 'ioredis';
import { AfmError } from '../errors.js';
import { keySlot, primaryFor, type RedisClient } from '../redis.js';

export class NotReplicated extends AfmError {
  constructor(reason: string) {
    super('AFM_ERR_UNAVAILABLE', `Redis replication not confirmed: ${reason}; try again`, { headers: { 'retry-after': '1' } });
  }
}

export interface ReplicaAcksOptions {
  /** The connection the fences and WAITs go on (WAIT blocks it: not one requests share). */
  acks: RedisClient;
  /** The connections the writes go on: one closing makes unconfirmed what it carried. */
  writers: RedisClient[];
  replicas: number;
  timeoutMs: number;
  /** The fence key, under the deployment's hash tag (so on the primary of its slot). */
  fenceKey: string;
}

export class ReplicaAcks {
  readonly replicas: number;
  private readonly acks: RedisClient;
  private readonly timeoutMs: number;
  private readonly fenceKey: string;
  private readonly slot: number;
  /** The round on the wire, and the one callers arriving meanwhile share. */
  private current: Promise<number> | undefined;
  private next: Promise<number> | undefined;
  /** When a connection last closed or the slot's primary last changed (ms). */
  private changedAt = 0;
  private lastPrimary: unknown;

  constructor(options: ReplicaAcksOptions) {
    this.acks = options.acks;
    this.replicas = options.replicas;
    // WAIT takes whole milliseconds.
    this.timeoutMs = Math.max(1, Math.ceil(options.timeoutMs));
    this.fenceKey = options.fenceKey;
    this.slot = keySlot(options.fenceKey);
    if (this.replicas === 0) return;
    const changed = () => (this.changedAt = Date.now());
    for (const client of new Set([options.acks, ...options.writers])) {
      client.on('close', changed);
      if (client instanceof Cluster) client.on('-node', changed).on('+node', changed);
    }
  }

  /**
   * Resolves once `replicas` replicas hold every write this process had answered before the call;
   * `since`: when the caller's first write was sent (a connection change after it voids the proof).
   */
  async confirm(since: number): Promise<void> {
    if (this.replicas === 0) return;
    const acknowledged = await this.round();
    if (this.changedAt >= since) throw new NotReplicated('the connection to the Redis primary changed during the request');
    if (acknowledged < this.replicas) {
      throw new NotReplicated(
        `${acknowledged} of ${this.replicas} replicas (REDIS_ACK_REPLICAS) held the write within ${this.timeoutMs} ms`,
      );
    }
  }

  private round(): Promise<number> {
    if (!this.current) {
      const sent = this.send();
      this.current = sent;
      void sent
        .catch(() => undefined)
        .then(() => {
          if (this.current === sent) this.current = undefined;
        });
      return sent;
    }
    this.next ??= this.current
      .catch(() => undefined)
      .then(() => {
        this.next = undefined;
        return this.round();
      });
    return this.next;
  }

  /**
   * The primary of the deployment's slot. This connection sends only to nodes directly, so no MOVED
   * ever refreshes its slot map: after a failover it is refreshed here.
   */
  private async primary(): Promise<Redis | undefined> {
    const node = primaryFor(this.acks, this.slot);
    if (node || !(this.acks instanceof Cluster)) return node;
    await this.refreshSlots();
    return primaryFor(this.acks, this.slot);
  }

  private refreshSlots(): Promise<void> {
    const cluster = this.acks;
    if (!(cluster instanceof Cluster)) return Promise.resolve();
    return new Promise((resolve) => cluster.refreshSlotsCache(() => resolve()));
  }

  private async send(): Promise<number> {
    const node = await this.primary();
    if (!node) throw new NotReplicated('no primary serves the deployment now (a failover)');
    if (node !== this.lastPrimary) {
      if (this.lastPrimary !== undefined) this.changedAt = Date.now();
      this.lastPrimary = node;
    }
    // A pipeline, not MULTI: inside a transaction WAIT would not wait.
    const [fence, waited] = (await node.pipeline().incr(this.fenceKey).wait(this.replicas, this.timeoutMs).exec()) ?? [];
    if (fence?.[0] || waited?.[0] || typeof waited?.[1] !== 'number') {
      // A MOVED (the slot went to another primary) or a dead node: the next round asks again.
      void this.refreshSlots();
      throw new NotReplicated(`the fence was refused (${String(fence?.[0] ?? waited?.[0] ?? 'no reply')})`);
    }
    return waited[1];
  }
}
