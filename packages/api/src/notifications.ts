/**
 * Long polls of this replica (issue 7). A waiting poll registers a token in Redis under each queue it
 * could claim from; posting a task wakes exactly one token (the one waiting longest) through this
 * replica's pub/sub channel, so a task wakes one agent, not all of them. A `GET /task?wait` registers
 * its task as watched; the worker announces a watched task once Postgres holds its outcome. Waiting
 * costs no CPU: a timer and an entry in a map.
 */
import { randomUUID } from 'node:crypto';
import type { RedisClient } from '@afm/shared/redis';
import type { Dispatch } from '@afm/shared/dispatch/dispatch';

export type WaitEnd = 'woken' | 'timeout' | 'aborted' | 'closing';

export interface Wait {
  /** Resolves once Redis has the registration: check once more then (a task posted just before found nobody to wake). */
  ready: Promise<unknown>;
  /** Resolves when woken, timed out, aborted, or the replica closes. */
  ended: Promise<WaitEnd>;
}

export class Notifications {
  /** Names this replica's wake channel; tokens are `<replica>/<n>`. */
  readonly replica = randomUUID().slice(0, 8);
  private sequence = 0;
  /** Every wait in progress, to end them all on close. */
  private readonly active = new Map<number, (end: WaitEnd) => void>();
  private readonly pollers = new Map<string, number>();
  private readonly watchers = new Map<string, Set<number>>();
  private closing = false;

  constructor(
    private readonly dispatch: Dispatch,
    /** A connection in subscriber mode, for this replica alone. */
    private readonly subscriber: RedisClient,
  ) {}

  async start(): Promise<void> {
    this.subscriber.on('message', (channel: string, message: string) => {
      if (channel === this.dispatch.finishedChannel) {
        for (const id of this.watchers.get(message) ?? []) this.active.get(id)?.('woken');
        return;
      }
      const [token, queue] = message.split(' ');
      const id = this.pollers.get(token!);
      if (id !== undefined) this.active.get(id)?.('woken');
      // The poll is gone: the wake goes on to another poll of the queue.
      else if (queue) void this.dispatch.wakeOne(queue).catch(() => undefined);
    });
    await this.subscriber.subscribe(this.dispatch.wakeChannel(this.replica), this.dispatch.finishedChannel);
  }

  waitForTask(queues: string[], ms: number, signal: AbortSignal): Wait {
    const token = `${this.replica}/${++this.sequence}`;
    const ends = Date.now() + ms;
    return {
      ready: this.dispatch.registerWait(queues, token, ends),
      ended: this.wait(
        ms,
        signal,
        (id) => this.pollers.set(token, id),
        () => {
          this.pollers.delete(token);
          void this.dispatch.unregisterWait(queues, token).catch(() => undefined);
        },
      ),
    };
  }

  waitForFinish(taskId: string, ms: number, signal: AbortSignal): Wait {
    return {
      ready: this.dispatch.watchTask(taskId, Date.now() + ms),
      ended: this.wait(
        ms,
        signal,
        (id) => {
          const set = this.watchers.get(taskId) ?? new Set<number>();
          this.watchers.set(taskId, set.add(id));
        },
        (id) => {
          const set = this.watchers.get(taskId);
          set?.delete(id);
          if (set?.size === 0) this.watchers.delete(taskId);
        },
      ),
    };
  }

  private wait(ms: number, signal: AbortSignal, register: (id: number) => void, unregister: (id: number) => void): Promise<WaitEnd> {
    if (this.closing) return Promise.resolve('closing');
    const id = ++this.sequence;
    return new Promise<WaitEnd>((resolve) => {
      const finish = (end: WaitEnd) => {
        if (!this.active.delete(id)) return;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        unregister(id);
        resolve(end);
      };
      const onAbort = () => finish('aborted');
      const timer = setTimeout(() => finish('timeout'), ms);
      this.active.set(id, finish);
      register(id);
      if (signal.aborted) finish('aborted');
      else signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Ends every wait now: the replica is shutting down, so they answer rather than hold it up. */
  close(): void {
    this.closing = true;
    for (const finish of [...this.active.values()]) finish('closing');
  }
}
