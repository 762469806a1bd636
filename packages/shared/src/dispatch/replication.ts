/**
 * REDIS_ACK_REPLICAS (README, Redis topologies): a write is acknowledged to a client only once N
 * replicas hold it, so a replica promoted after the primary died has it. Redis WAIT counts the writes
 * of the connection it is sent on, and blocks that connection while it waits; so callers share rounds
 * (a group commit): one WAIT covers every write its connection had answered before it was sent, and
 * callers arriving during a round wait for the next one.
 */
import { AfmError } from '../errors.js';
import { keySlot, primaryFor, type RedisClient } from '../redis.js';

export class ReplicaAcks {
  /** The WAIT on the wire, and the one callers arriving meanwhile share. */
  private current: Promise<number> | undefined;
  private next: Promise<number> | undefined;
  private readonly slot: number;

  constructor(
    private readonly redis: RedisClient,
    readonly replicas: number,
    private readonly timeoutMs: number,
    /** A key of the deployment: in a cluster, its slot's primary is the node to ask. */
    deploymentKey: string,
  ) {
    this.slot = keySlot(deploymentKey);
  }

  /** Resolves once `replicas` replicas hold every write this connection had answered; 503 otherwise. */
  async confirm(): Promise<void> {
    if (this.replicas === 0) return;
    const acknowledged = await this.round();
    if (acknowledged < this.replicas) {
      throw new AfmError(
        'AFM_ERR_UNAVAILABLE',
        `Redis replication not confirmed: ${acknowledged} of ${this.replicas} replicas (REDIS_ACK_REPLICAS) held the write within ${this.timeoutMs} ms; try again`,
        { headers: { 'retry-after': '1' } },
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

  private async send(): Promise<number> {
    const node = primaryFor(this.redis, this.slot);
    if (!node) throw new AfmError('AFM_ERR_UNAVAILABLE', 'Redis Cluster: no primary serves the deployment slot now (failover); try again');
    return node.wait(this.replicas, this.timeoutMs);
  }
}
