// The Batcher: concurrent calls share a write; a bad item fails alone; duplicates in a batch resolve
// first-wins (insertTasks, against real Postgres).
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Batcher, batchedWrite } from '../src/batcher.js';
import { createDb } from '../src/db/connect.js';
import { createTaskStore, findTask } from '../src/db/tasks.js';
import { createTestEnv, type TestEnv } from '../testing/env.js';

describe('Batcher', () => {
  it('puts calls made together into one write, and a lone call goes out at once', async () => {
    const writes: number[][] = [];
    const batcher = new Batcher(async (items: number[]) => {
      writes.push(items);
      return items.map((item) => item * 2);
    });
    expect(await Promise.all([1, 2, 3].map((item) => batcher.push(item)))).toEqual([2, 4, 6]);
    expect(writes).toEqual([[1, 2, 3]]);
    expect(await batcher.push(5)).toBe(10);
    expect(writes).toHaveLength(2);
  });

  it('keeps batching while writes are in flight, never beyond maxInFlight', async () => {
    let inFlight = 0;
    let most = 0;
    const batcher = new Batcher(
      async (items: number[]) => {
        most = Math.max(most, ++inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return items;
      },
      { maxInFlight: 2, maxSize: 10 },
    );
    const all = await Promise.all(Array.from({ length: 100 }, (_, n) => batcher.push(n)));
    expect(all).toEqual(Array.from({ length: 100 }, (_, n) => n));
    expect(most).toBeLessThanOrEqual(2);
  });

  it('fails only the bad item when a batch write fails for a reason other than an outage', async () => {
    const batcher = batchedWrite(
      async (items: number[]) => {
        if (items.includes(13)) throw new Error('thirteen');
        return items;
      },
      () => false,
    );
    const results = await Promise.allSettled([1, 13, 3].map((item) => batcher.push(item)));
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  });

  it('fails the whole batch at once when storage is unreachable', async () => {
    const batcher = batchedWrite(
      async (): Promise<number[]> => {
        throw new Error('down');
      },
      () => true,
    );
    const results = await Promise.allSettled([1, 2].map((item) => batcher.push(item)));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  });
});

describe('createTaskStore', () => {
  let env: TestEnv;
  beforeAll(async () => {
    env = await createTestEnv('batcher');
  });
  afterAll(() => env.cleanup());

  it('inserts concurrent posts in batches; of equal ids exactly one is inserted', async () => {
    const db = createDb(env.config.DATABASE_URI, { max: 2 });
    try {
      const writer = createTaskStore(db);
      const task = () => ({ task_id: randomUUID(), test_id: randomUUID(), task_type: 'b', task_version: 1, task_data: {} });
      const distinct = Array.from({ length: 50 }, task);
      const same = task();
      const results = await Promise.all([...distinct, same, same, same].map((t) => writer.insert(t, new Date())));
      expect(results.slice(0, 50).every(Boolean)).toBe(true);
      expect(results.slice(50).filter(Boolean)).toHaveLength(1);
      expect(await writer.insert(same, new Date())).toBe(false);
      expect(await findTask(db, distinct[7]!.task_id)).toBeDefined();
    } finally {
      await db.destroy();
    }
  });
});
