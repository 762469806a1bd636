/**
 * Coalesces concurrent calls into batches: items pushed while a batch is being written wait for the
 * next one, so batches grow with load and a lone call goes out at once. Used where one round trip for
 * many items beats one each (Postgres inserts of posted tasks, updates of results).
 */
export class Batcher<I, O> {
  private queue: { item: I; resolve: (value: O) => void; reject: (error: unknown) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(
    /** Writes a batch; returns one output per item, in order (an Error output fails just that item). */
    private readonly write: (items: I[]) => Promise<(O | Error)[]>,
    private readonly options: { maxSize?: number; maxInFlight?: number } = {},
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

  private async flush(): Promise<void> {
    const batch = this.queue.splice(0, this.options.maxSize ?? 500);
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
  options?: { maxSize?: number; maxInFlight?: number },
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
