/**
 * A bound on the memory that request bodies hold at once. A body's bytes are reserved from the budget
 * before it is read and given back when its answer is sent: while it is read, parsed, validated and
 * stored, its parsed form can take many times its size in the heap (a megabyte of `[[],[],…]` is ~15 MB
 * of arrays). Without a bound, a few hundred concurrent bodies within BODY_LIMIT exhaust any heap
 * (300 posts of 250 KB task_data killed a replica capped at 96 MB); with it, bodies beyond the budget
 * wait their turn, unread, and are answered 503 ("retry later") if their turn does not come in time.
 */
import { getHeapStatistics } from 'node:v8';

/**
 * Bytes of heap a byte of body may take at worst while its request is handled: ~15 for parsed JSON,
 * ~25 for a poll naming its largest number of capabilities with long type names (the queue names it
 * claims from); with room to spare.
 */
export const HEAP_PER_BODY_BYTE = 32;

/** The budget of this process: half its heap limit, divided by the worst expansion. */
export function defaultBodyBudget(): number {
  return Math.floor(getHeapStatistics().heap_size_limit / 2 / HEAP_PER_BODY_BYTE);
}

export class BodyBudget {
  private used = 0;
  private readonly waiting: { bytes: number; grant: () => void }[] = [];

  constructor(readonly capacity: number) {}

  /**
   * Reserves `bytes` (a body larger than the whole budget takes it all, alone); resolves with the
   * release, or with undefined when the bytes did not free up within `waitMs`.
   */
  async reserve(bytes: number, waitMs: number): Promise<(() => void) | undefined> {
    const amount = Math.min(bytes, this.capacity);
    if (this.waiting.length === 0 && this.used + amount <= this.capacity) return this.take(amount);
    return new Promise((resolve) => {
      const entry = { bytes: amount, grant: () => resolve(this.take(amount)) };
      this.waiting.push(entry);
      setTimeout(() => {
        const index = this.waiting.indexOf(entry);
        if (index >= 0) {
          this.waiting.splice(index, 1);
          resolve(undefined);
          this.grantWaiting();
        }
      }, waitMs).unref();
    });
  }

  /** Bytes reserved now (for tests and metrics). */
  get inUse(): number {
    return this.used;
  }

  private take(amount: number): () => void {
    this.used += amount;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= amount;
      this.grantWaiting();
    };
  }

  /** First come, first served: a large body at the head is not overtaken by small ones forever. */
  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.used + this.waiting[0]!.bytes <= this.capacity) this.waiting.shift()!.grant();
  }
}
