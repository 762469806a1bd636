/**
 * Coalesces concurrent calls into batches: items pushed while a batch is being written wait for the
 * next one, so batches grow with load and a lone call goes out at once. Used where one round trip for
 * many items beats one each (Postgres inserts of posted tasks, updates of results).
 */
export interface BatchOptions<I> {
  /** Most items in a batch (default 500). */
  maxSize?: number;
  /** Batches written at once (default 4). */
  maxInFlight?: number;
  /** With `weigh`: most total weight in a batch (its first item always goes), e.g. bytes of a statement. */
  maxWeight?: number;
  weigh?: (item: I) => number;
}

export class Batcher<I, O> {
  private queue: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /** Writes a batch; returns one output per item, in order (an Error output fails just that item). */
    private readonly write: (items: I[]) => Promise<(O | Error)[]>,
    private readonly options: BatchOptions<I> = {},
  ) {}

  push(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= (this.options.maxInFlight ?? 4)) return;
    this.scheduled = true;
    // Everything pushed in this turn of the event loop goes into one batch.
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  /** How many of the waiting items the next batch takes. */
  private batchLength(): number {
    const most = Math.min(this.queue.length, this.options.maxSize ?? 500);
    const { weigh, maxWeight } = this.options;
    if (!weigh || maxWeight === undefined) return most;
    let total = 0;
    for (let index = 0; index < most; index++) {
      total += weigh(this.queue[index]!.item);
      if (index > 0 && total > maxWeight) return index;
    }
    return most;
  }

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.batchLength());
    if (batch.length === 0) return;
    this.inFlight++;
    try {
      const outputs = await this.write(batch.map((entry) => entry.item));
      batch.forEach((entry, index) => {
        const output = outputs[index];
        if (output instanceof Error) entry.reject(output);
        else entry.resolve(output as O);
      });
    } catch (error) {
      for (const entry of batch) entry.reject(error);
    } finally {
      this.inFlight--;
      this.schedule();
    }
  }
}

/**
 * A batched write that falls back to one write per item when the batch fails for a reason other than
 * "storage unreachable", so one bad item cannot fail the others.
 */
export function batchedWrite<I, O>(
  writeMany: (items: I[]) => Promise<O[]>,
  isUnavailable: (error: unknown) => boolean,
  options?: BatchOptions<I>,
): Batcher<I, O> {
  return new Batcher<I, O>(async (items) => {
    try {
      return await writeMany(items);
    } catch (error) {
      if (items.length === 1 || isUnavailable(error)) throw error;
      return Promise.all(
        items.map((item) =>
          writeMany([item]).then(
            ([output]) => output as O,
            (itemError: unknown) => (itemError instanceof Error ? itemError : new Error(String(itemError))),
          ),
        ),
      );
    }
  }, options);
}

/** Consecutive chunks of `items`, each weighing at most `max` (an item heavier than that goes alone). */
export function chunksByWeight<T>(items: T[], weight: (item: T) => number, max: number): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let total = 0;
  for (const item of items) {
    const w = weight(item);
    if (current.length > 0 && total + w > max) {
      chunks.push(current);
      current = [];
      total = 0;
    }
    current.push(item);
    total += w;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
