/**
 * The BullMQ task queues, one per (task type, version), all on one shared Redis connection
 * (a BullMQ Queue given an ioredis instance reuses it instead of opening its own). Tasks are added by
 * AFM's enqueueTasks script, many per call; these queues count, pause, resume and drain them.
 */
import { Queue } from 'bullmq';
import type { RedisClient } from '../redis.js';
import { taskQueueName, type TaskJob } from '../queues.js';
import { dispatchKeys, type DispatchKeys } from './keys.js';

/** Nobody subscribes to task queue events; keep BullMQ's event stream per queue short. */
const EVENTS_MAX_LEN = 100;

export class TaskQueues {
  private readonly queues = new Map<string, Queue<TaskJob>>();
  private readonly keys: DispatchKeys;

  constructor(
    private readonly redis: RedisClient,
    readonly prefix: string,
  ) {
    this.keys = dispatchKeys(prefix);
  }

  /** The queue of one task type and version (created on first use, then cached). */
  get(type: string, version: number): Queue<TaskJob> {
    return this.byName(taskQueueName(type, version));
  }

  byName(name: string): Queue<TaskJob> {
    let queue = this.queues.get(name);
    if (!queue) {
      queue = new Queue<TaskJob>(name, {
        connection: this.redis,
        prefix: this.prefix,
        skipVersionCheck: true,
        streams: { events: { maxLen: EVENTS_MAX_LEN } },
      });
      // Errors surface on the awaited calls; without a listener an 'error' event would crash the process.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
    return queue;
  }

  /** Names of every task queue ever used with this prefix. */
  async names(): Promise<string[]> {
    return (await this.redis.smembers(this.keys.queues)).sort();
  }

  async close(): Promise<void> {
    await Promise.all([...this.queues.values()].map((queue) => queue.close()));
    this.queues.clear();
  }
}
