/**
 * The BullMQ task queues, one per (task type, version), all on one shared Redis connection
 * (a BullMQ Queue given an ioredis instance reuses it instead of opening its own).
 */
import { Queue } from 'bullmq';
import type { RedisClient } from '../redis.js';
import { unavailable } from '../errors.js';
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

  /**
   * Puts a task in its queue. The job id is the task id, and the job timestamp the posting time, by
   * which claimTasks orders tasks across queues. Adding a job whose id is already waiting is a no-op.
   * `newTask` counts it as posted (a task queued again after a Redis loss is not posted twice).
   */
  async enqueue(task: TaskJob, postedAt: number, { newTask = false } = {}): Promise<string> {
    const name = taskQueueName(task.task_type, task.task_version, task.task_location);
    // BullMQ would wait for a connection that is down for as long as it is down, and add the job
    // whenever it returns — even after the reconciler queued the task and an agent finished it.
    if (this.redis.status !== 'ready') throw unavailable('Redis', new Error(`Redis connection is ${this.redis.status}`));
    const bookkeeping = this.redis.pipeline().sadd(this.keys.queues, name);
    if (newTask) bookkeeping.hincrby(this.keys.stats, `posted:${name}`, 1);
    const { task_ttl: ttl, task_timeout: timeout, task_retries: retries } = task;
    if (ttl !== undefined || timeout !== undefined || retries !== undefined) {
      // The task hash comes first, so the claim finds the options; an existing one keeps its state.
      const key = this.keys.task(task.task_id);
      bookkeeping.hsetnx(key, 'state', 'waiting');
      bookkeeping.hset(
        key,
        'queue',
        name,
        ...(ttl !== undefined ? ['ttl', ttl] : []),
        ...(timeout !== undefined ? ['timeout', timeout] : []),
        ...(retries !== undefined ? ['retries', retries] : []),
      );
      if (ttl !== undefined) bookkeeping.zadd(this.keys.expiry, 'NX', postedAt + ttl * 1000, task.task_id);
    }
    await Promise.all([bookkeeping.exec(), this.byName(name).add(task.task_type, task, { jobId: task.task_id, timestamp: postedAt })]);
    return name;
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
