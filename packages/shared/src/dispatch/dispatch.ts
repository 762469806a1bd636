/**
 * The dispatch core: the one interface through which the API, the worker and the CLI act on a task's
 * life in Redis — post, claim, answer, cancel, expire, time out, fail a silent agent's tasks, requeue,
 * rebuild after Redis lost its data — and read the fleet's live state. Only this directory builds Redis
 * keys (keys.ts, and BullMQ's in bullmq.ts) and names scripts (scripts.ts); the state machine is in
 * states.ts. Postgres, the system of record, is the repositories' (db/).
 */
import { Queue } from 'bullmq';
import { Batcher } from '../batcher.js';
import { unavailable } from '../errors.js';
import { connectRedis, primaries, type RedisClient } from '../redis.js';
import type { AgentLocation } from '../protocol.js';
import { jobOutcome, MAINTENANCE_QUEUE, parseOutcome, type ResultJob, type TaskJob, type TaskOutcome } from '../queues.js';
import type { AgentRecord } from '../db/agents.js';
import type { ClaimRecord } from '../db/tasks.js';
import { JOB_FIELD, META_PAUSED, queueKeys } from './bullmq.js';
import { forgetJob, readJobHealth, readJobRuns, recordJobRun, touchJob, type JobHealth } from './job-health.js';
import { deploymentPattern } from './keys.js';
import { ReplicaAcks } from './replication.js';
import { createResultsQueue, RESULT_JOB_OPTIONS, type ResultsQueue } from './results.js';
import { DispatchScripts, type AnswerReply, type EnqueueItem, type LostClaim } from './scripts.js';
import { activeSince, isLiveState, QUEUE_EVENTS, type LiveState, type QueueEvent } from './states.js';
import { TaskQueues } from './task-queues.js';
import { knownWorkers, liveWorkers, workerBeat, workerRetired } from './workers.js';

export interface DispatchOptions {
  /** Connection for AFM's commands and scripts (may be auto-pipelined). */
  commands: RedisClient;
  /** Connection BullMQ's queues share (never auto-pipelined: BullMQ defines its scripts lazily). */
  queues: RedisClient;
  prefix: string;
  /** AGENT_ACTIVE_THRESHOLD, seconds. */
  agentActiveThreshold: number;
  /** REDIS_ACK_REPLICAS and REDIS_ACK_TIMEOUT (seconds): what `acknowledged` waits for. */
  ackReplicas?: number;
  ackTimeout?: number;
  /** The connection `acknowledged` sends its fences and WAITs on (required when ackReplicas > 0). */
  acks?: RedisClient;
}

/** A queue's state in Redis, as operators and metrics see it. */
export interface QueueState {
  queue: string;
  waiting: number;
  /** Posting time (ms) of the oldest waiting task, or null. */
  oldestPostedAt: number | null;
  paused: boolean;
  inProgress: number;
  events: Record<QueueEvent, number>;
}

/** An accepted outcome Postgres does not have yet, found by the reconciler. */
export interface UnsavedOutcome {
  taskId: string;
  job: ResultJob | null;
}

/** Most tasks, and most bytes of their JSON, in one enqueueTasks call (a lone larger task goes alone). */
const ENQUEUE_BATCH = 200;
const ENQUEUE_BATCH_BYTES = 4_000_000;

export class Dispatch extends DispatchScripts {
  private readonly taskQueues: TaskQueues;
  readonly results: ResultsQueue;
  /** The worker's repeatable jobs' queue, read here for their schedules (the worker runs them). */
  private readonly maintenance: Queue;
  private readonly threshold: number;
  private readonly acks: ReplicaAcks;
  private readonly enqueues: Batcher<EnqueueItem, { queue: string; queued: boolean }>;

  constructor(options: DispatchOptions) {
    super(options.commands, options.prefix);
    this.taskQueues = new TaskQueues(options.queues, options.prefix);
    this.results = createResultsQueue(options.queues, options.prefix);
    this.maintenance = new Queue(MAINTENANCE_QUEUE, { connection: options.queues, prefix: options.prefix, skipVersionCheck: true });
    this.maintenance.on('error', () => undefined);
    this.threshold = options.agentActiveThreshold;
    this.enqueues = new Batcher((items) => this.enqueueTasks(items), {
      maxSize: ENQUEUE_BATCH,
      // Task data is bounded (TASK_DATA_LIMIT) but a batch of large ones is not: a few MB per call.
      weigh: ({ data }) => data.length,
      maxWeight: ENQUEUE_BATCH_BYTES,
      // One call at a time: the next batch grows while it runs (measured: more posts a second than 4 at once).
      maxInFlight: 1,
    });
    const { ackReplicas = 0, ackTimeout = 1 } = options;
    if (ackReplicas > 0 && !options.acks) throw new Error('REDIS_ACK_REPLICAS needs a connection for its WAITs');
    this.acks = new ReplicaAcks({
      acks: options.acks ?? options.commands,
      writers: [options.commands, options.queues],
      replicas: ackReplicas,
      timeoutMs: ackTimeout * 1000,
      fenceKey: this.keys.fence,
    });
  }

  /**
   * Resolves once the replicas REDIS_ACK_REPLICAS asks for hold every write Redis had taken before
   * the call (at once when it is 0); a 503 that says so otherwise. Called before a write is answered
   * 200; `since`: when the request's first write was sent.
   */
  acknowledged(since: number): Promise<void> {
    return this.acks.confirm(since);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.taskQueues.close(), this.results.close(), this.maintenance.close()]);
  }

  /** What a BullMQ Worker or Queue of this deployment is given besides its connection (its key prefix). */
  get bullmqOptions(): { prefix: string; skipVersionCheck: true } {
    return { prefix: this.prefix, skipVersionCheck: true };
  }

  // ---- Tasks: post, hand out, settle

  /**
   * Puts a task in its queue (the job id is the task id; its timestamp, the posting time, orders
   * claims across queues). `newTask` counts it as posted and wakes the long poll waiting longest for
   * its queue; a task queued again is not posted twice. Calls of one event-loop turn share one script
   * call (enqueueTasks-3.lua); the queue's name is returned.
   */
  async enqueue(task: TaskJob, postedAt: number, { newTask = false }: { newTask?: boolean } = {}): Promise<string> {
    // ioredis would hold the call while the connection is down and send it whenever it returns — even
    // after the reconciler queued the task and an agent finished it.
    if (this.redis.status !== 'ready') throw unavailable('Redis', new Error(`Redis connection is ${this.redis.status}`));
    return (await this.enqueues.push({ task, data: JSON.stringify(task), postedAt, newTask })).queue;
  }

  /** A newly posted task: queued, and the long poll waiting longest for its queue woken. */
  async post(task: TaskJob, postedAt: number): Promise<void> {
    await this.enqueue(task, postedAt, { newTask: true });
  }

  /** The agent holding a task's claim (or the last one, once it finished), or null. */
  holderOf(taskId: string): Promise<string | null> {
    return this.redis.hget(this.keys.task(taskId), 'agent');
  }

  /** The live state of a task in Redis, when Redis knows it. */
  async liveState(taskId: string): Promise<LiveState | null> {
    const state = await this.redis.hget(this.keys.task(taskId), 'state');
    return isLiveState(state) ? state : null;
  }

  /** Puts back the claims of a poll that went away before its answer reached the agent; the ids given back. */
  async giveBack(agentId: string, claimed: { taskId: string; data: string; postedAt: number }[]): Promise<string[]> {
    const released: string[] = [];
    for (const claim of claimed) {
      if (!(await this.releaseClaim(claim.taskId, agentId, claim.data, claim.postedAt))) continue;
      released.push(claim.taskId);
      const queue = await this.redis.hget(this.keys.task(claim.taskId), 'queue');
      if (queue) await this.wakeOne(queue);
    }
    return released;
  }

  /** Wakes a long poll for each of these tasks, back in their queues. */
  async wakeFor(taskIds: string[]): Promise<void> {
    if (taskIds.length === 0) return;
    const queues = await each<string | null>(this.redis, taskIds, (p, i) => p.hget(this.keys.task(taskIds[i]!), 'queue'));
    await Promise.all(queues.map((queue) => (queue ? this.wakeOne(queue) : undefined)));
  }

  /**
   * Settles a claimed task with its outcome, first one wins: compare-and-set in Redis, then a results
   * job for the worker. Once the compare-and-set succeeded the outcome is accepted — it stays in Redis
   * until Postgres has it — so a failure to queue the job is reported, not thrown: the reconciler
   * queues it again. `holder`: only this agent's claim may be answered (a bound agent token).
   */
  async settle(
    taskId: string,
    outcome: TaskOutcome,
    now: number,
    holder?: string,
    onSubmitError?: (error: unknown) => void,
  ): Promise<AnswerReply> {
    const reply = await this.answerTask(taskId, outcome, now, holder);
    if (reply.accepted) {
      await this.submitResult({
        task_id: taskId,
        outcome: jobOutcome(outcome),
        finished_at: now,
        agent_id: reply.agentId,
        claimed_at: reply.claimedAt,
        attempts: reply.attempts,
      }).catch((error: unknown) => onSubmitError?.(error));
    }
    return reply;
  }

  /** Queues an outcome for the worker (a no-op while a job for the task is pending). */
  async submitResult(job: ResultJob): Promise<void> {
    await this.results.add('result', job, { ...RESULT_JOB_OPTIONS, jobId: job.task_id });
  }

  async submitResults(jobs: ResultJob[]): Promise<void> {
    if (jobs.length === 0) return;
    await this.results.addBulk(
      jobs.map((job) => ({ name: 'result' as const, data: job, opts: { ...RESULT_JOB_OPTIONS, jobId: job.task_id } })),
    );
  }

  /** Queues the results jobs of claims lost to silence or a timeout that ended in failure (not retried). */
  async submitLostClaims(lost: LostClaim[], now: number, cause: 'agent_silent' | 'timed_out'): Promise<void> {
    await this.submitResults(
      lost.flatMap(({ taskId, agentId, claimedAt, error, attempts }) =>
        error === null
          ? []
          : [
              {
                task_id: taskId,
                outcome: { state: 'failed' as const, error, cause },
                finished_at: now,
                agent_id: agentId,
                claimed_at: claimedAt,
                attempts,
              },
            ],
      ),
    );
  }

  /** Fails every waiting task of a queue with `reason`, queueing the failures; how many. */
  async drain(queue: string, reason: string): Promise<number> {
    let count = 0;
    for (;;) {
      const now = Date.now();
      const ids = await this.drainQueue(queue, reason, now, 500);
      await this.submitResults(
        ids.map((id) => ({
          task_id: id,
          outcome: { state: 'failed' as const, error: reason, cause: 'drained' as const },
          finished_at: now,
          agent_id: null,
          claimed_at: null,
        })),
      );
      count += ids.length;
      if (ids.length < 500) return count;
    }
  }

  // ---- Postgres catching up with Redis (the worker's sync and reconcile jobs)

  /** Claims Postgres has not seen yet, with what to pass to forgetSyncedClaims once written. */
  async dirtyClaims(limit: number): Promise<{ records: ClaimRecord[]; marks: { taskId: string; score: string }[] }> {
    const flat = await this.redis.zrange(this.keys.claimsDirty, 0, limit - 1, 'WITHSCORES');
    const marks: { taskId: string; score: string }[] = [];
    for (let i = 0; i < flat.length; i += 2) marks.push({ taskId: flat[i]!, score: flat[i + 1]! });
    const replies = await each<(string | null)[]>(this.redis, marks, (p, i) =>
      p.hmget(this.keys.task(marks[i]!.taskId), 'state', 'agent', 'claimed_at', 'attempts'),
    );
    const records: ClaimRecord[] = [];
    marks.forEach(({ taskId }, index) => {
      const [state, agent, claimedAt, attempts] = replies[index]!;
      // A task already answered gets its claim written with its outcome: one update instead of two.
      if (state === 'claimed' && agent && claimedAt)
        records.push({ task_id: taskId, agent_id: agent, claimed_at: Number(claimedAt), attempts: Number(attempts ?? 1) });
    });
    return { records, marks };
  }

  /** Takes up to `limit` agents whose hot state Postgres has not seen; put them back with markAgentsDirty if not written. */
  async takeDirtyAgents(limit: number): Promise<{ ids: string[]; agents: AgentRecord[] }> {
    const ids = await this.redis.spop(this.keys.agentsDirty, limit);
    try {
      const hashes = await each<Record<string, string>>(this.redis, ids, (p, i) => p.hgetall(this.keys.agent(ids[i]!)));
      const agents = ids.flatMap((id, index) => {
        const hash = hashes[index]!;
        return hash.last_seen === undefined ? [] : [agentRecord(id, hash)];
      });
      return { ids, agents };
    } catch (error) {
      // Taken but not read: they stay dirty for the next run.
      await this.markAgentsDirty(ids);
      throw error;
    }
  }

  async markAgentsDirty(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.sadd(this.keys.agentsDirty, ...ids);
  }

  /**
   * Outcomes accepted before `before` that Postgres still lacks: their results jobs as they should be
   * (null where the task is no longer answered, and is taken off the list).
   */
  async unsavedOutcomes(before: number, limit: number): Promise<UnsavedOutcome[]> {
    const ids = await this.redis.zrangebyscore(this.keys.unsaved, '-inf', before, 'LIMIT', 0, limit);
    const replies = await each<(string | null)[]>(this.redis, ids, (p, i) =>
      p.hmget(this.keys.task(ids[i]!), 'state', 'outcome', 'finished_at', 'agent', 'claimed_at'),
    );
    const found: UnsavedOutcome[] = [];
    for (const [index, taskId] of ids.entries()) {
      const [state, outcome, finishedAt, agent, claimedAt] = replies[index]!;
      if (state !== 'answered' || !outcome || !finishedAt) {
        await this.redis.zrem(this.keys.unsaved, taskId);
        found.push({ taskId, job: null });
        continue;
      }
      const job = {
        task_id: taskId,
        outcome: jobOutcome(parseOutcome(outcome)),
        finished_at: Number(finishedAt),
        agent_id: agent ?? null,
        claimed_at: claimedAt ? Number(claimedAt) : null,
      };
      found.push({ taskId, job });
    }
    return found;
  }

  /** Of these tasks (unfinished in Postgres), those Redis knows neither as a job nor as a task hash. */
  async unknownTasks<T extends { id: string; task_type: string; task_version: number; queue: string }>(tasks: T[]): Promise<T[]> {
    const pipeline = this.redis.pipeline();
    for (const task of tasks) pipeline.exists(this.keys.task(task.id), queueKeys(this.prefix, task.queue).jobPrefix + task.id);
    const replies = (await pipeline.exec()) ?? [];
    return tasks.filter((_, index) => replies[index]?.[1] === 0);
  }

  /** Where the reconciler stands: the time Redis was last rebuilt (null: it lost its data), and the watermark. */
  async reconcileMarks(): Promise<{ epoch: number | null; watermark: number | null }> {
    const [epoch, watermark] = await this.redis.mget(this.keys.epoch, this.keys.reconciled);
    return { epoch: epoch ? Number(epoch) : null, watermark: watermark ? Number(watermark) : null };
  }

  /** Every task posted before `to` was checked. */
  async setWatermark(to: number): Promise<void> {
    await this.redis.set(this.keys.reconciled, String(to));
  }

  /** Redis was rebuilt from Postgres at `at`: it holds what Postgres does (until it loses its data again). */
  async markRebuilt(at: number): Promise<void> {
    await this.redis.set(this.keys.epoch, String(at));
  }

  // ---- Agents as Redis knows them

  activeSince(now: number): number {
    return activeSince(now, this.threshold);
  }

  /** Agents seen within AGENT_ACTIVE_THRESHOLD. */
  countActiveAgents(now = Date.now()): Promise<number> {
    return this.redis.zcount(this.keys.agentsSeen, this.activeSince(now), '+inf');
  }

  /** Agents Redis knows (not yet forgotten). */
  countKnownAgents(): Promise<number> {
    return this.redis.zcard(this.keys.agentsSeen);
  }

  /** When each agent was last seen (ms), or null. */
  async lastSeen(agentIds: string[]): Promise<(number | null)[]> {
    if (agentIds.length === 0) return [];
    return (await this.redis.zmscore(this.keys.agentsSeen, ...agentIds)).map((score) => (score === null ? null : Number(score)));
  }

  /** The tasks an agent holds. */
  async heldBy(agentId: string): Promise<string[]> {
    return (await this.redis.smembers(this.keys.held(agentId))).sort();
  }

  /** How many agents hold tasks and were last seen before `cutoff`. */
  countHoldersUnseenSince(cutoff: number): Promise<number> {
    return this.redis.zcount(this.keys.holders, '-inf', `(${cutoff}`);
  }

  /** Agents holding tasks and last seen before `cutoff`, oldest first, with their names. */
  async holdersUnseenSince(cutoff: number, limit: number): Promise<{ agentId: string; lastSeen: number; name: string }[]> {
    const flat = await this.redis.zrangebyscore(this.keys.holders, '-inf', `(${cutoff}`, 'WITHSCORES', 'LIMIT', 0, limit);
    const page: { agentId: string; lastSeen: number }[] = [];
    for (let i = 0; i < flat.length; i += 2) page.push({ agentId: flat[i]!, lastSeen: Number(flat[i + 1]) });
    const names = await each<string | null>(this.redis, page, (p, i) => p.hget(this.keys.agent(page[i]!.agentId), 'name'));
    return page.map((holder, index) => ({ ...holder, name: names[index] ?? 'unknown' }));
  }

  /** Agents last seen before `cutoff`, oldest first, a page at a time. */
  agentsUnseenSince(cutoff: number, offset: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.agentsSeen, '-inf', `(${cutoff}`, 'LIMIT', offset, limit);
  }

  // ---- Queues

  /** Names of every task queue ever used with this prefix. */
  queueNames(): Promise<string[]> {
    return this.taskQueues.names();
  }

  /** Every task queue's state, from Redis. */
  async queueStates(): Promise<QueueState[]> {
    const names = await this.queueNames();
    if (names.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const name of names) {
      const keys = queueKeys(this.prefix, name);
      pipeline.llen(keys.wait).lindex(keys.wait, -1).hexists(keys.meta, META_PAUSED);
    }
    pipeline.hgetall(this.keys.inProgress).hgetall(this.keys.stats);
    const replies = ((await pipeline.exec()) ?? []).map(([error, value]) => {
      if (error) throw error;
      return value;
    });
    const inProgress = replies[3 * names.length] as Record<string, string>;
    const stats = replies[3 * names.length + 1] as Record<string, string>;
    const heads = names.map((_, index) => replies[3 * index + 1] as string | null);
    const postedAt = await each<string | null>(this.redis, names, (p, index) =>
      p.hget(queueKeys(this.prefix, names[index]!).jobPrefix + (heads[index] ?? ''), JOB_FIELD.timestamp),
    );
    return names.map((name, index) => ({
      queue: name,
      waiting: replies[3 * index] as number,
      oldestPostedAt: postedAt[index] ? Number(postedAt[index]) : null,
      paused: replies[3 * index + 2] === 1,
      inProgress: Math.max(0, Number(inProgress[name] ?? 0)),
      events: Object.fromEntries(QUEUE_EVENTS.map((event) => [event, Number(stats[`${event}:${name}`] ?? 0)])) as Record<
        QueueEvent,
        number
      >,
    }));
  }

  /** Stops handing out the tasks of a queue (posting still works). */
  pauseQueue(name: string): Promise<void> {
    return this.taskQueues.byName(name).pause();
  }

  resumeQueue(name: string): Promise<void> {
    return this.taskQueues.byName(name).resume();
  }

  /** BullMQ's own count of a queue's waiting jobs (for tests and checks). */
  waitingJobs(type: string, version: number): Promise<number> {
    return this.taskQueues.get(type, version).getWaitingCount();
  }

  /** A task as its queue holds it, read through BullMQ's own API, or undefined. */
  async queuedTask(type: string, version: number, taskId: string): Promise<TaskJob | undefined> {
    return (await this.taskQueues.get(type, version).getJob(taskId))?.data;
  }

  // ---- Long polls: registrations and the channels that end them

  /** The channel of one API replica on which it hears which of its waiting polls to wake. */
  wakeChannel(replica: string): string {
    return this.keys.wakeChannel(replica);
  }

  /** The channel on which the worker announces watched tasks whose outcome Postgres now holds. */
  get finishedChannel(): string {
    return this.keys.finishedChannel;
  }

  /** Registers a waiting poll (its token) under each queue it could claim from, until `ends` (ms). */
  async registerWait(queues: string[], token: string, ends: number): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const queue of queues) pipeline.zadd(this.keys.waiting(queue), ends, token);
    await pipeline.exec();
  }

  async unregisterWait(queues: string[], token: string): Promise<void> {
    const pipeline = this.redis.pipeline();
    for (const queue of queues) pipeline.zrem(this.keys.waiting(queue), token);
    await pipeline.exec();
  }

  /** Long polls waiting now for a task of this queue (on any replica). */
  countWaitingPolls(queue: string): Promise<number> {
    return this.redis.zcard(this.keys.waiting(queue));
  }

  /** Until when (ms) a `GET /task?wait` watches the task, or null. */
  async watchedUntil(taskId: string): Promise<number | null> {
    const score = await this.redis.zscore(this.keys.watched, taskId);
    return score === null ? null : Number(score);
  }

  /** Asks the worker to announce the task once Postgres holds its outcome, until `until` (ms). */
  async watchTask(taskId: string, until: number): Promise<void> {
    await this.redis.zadd(this.keys.watched, 'GT', until, taskId);
  }

  // ---- Workers and their jobs

  workerBeat(workerId: string, now = Date.now()): Promise<void> {
    return workerBeat(this.redis, this.keys, workerId, now);
  }

  workerRetired(workerId: string): Promise<void> {
    return workerRetired(this.redis, this.keys, workerId);
  }

  liveWorkers(now = Date.now()): Promise<number> {
    return liveWorkers(this.redis, this.keys, now);
  }

  /** Every worker that beat within the last hour, most recent first, with its last beat (ms). */
  knownWorkers(): Promise<{ id: string; lastBeat: number }[]> {
    return knownWorkers(this.redis, this.keys);
  }

  /** The schedules of the worker's repeatable jobs, as BullMQ keeps them: period and next run (ms). */
  async jobSchedulers(): Promise<{ job: string; everyMs: number | null; nextAt: number | null }[]> {
    return (await this.maintenance.getJobSchedulers()).map((scheduler) => ({
      job: scheduler.key,
      everyMs: scheduler.every ?? null,
      nextAt: scheduler.next ?? null,
    }));
  }

  recordJobRun(job: string, everyMs: number, error: string | null, now = Date.now()): Promise<JobHealth> {
    return recordJobRun(this.redis, this.keys, job, everyMs, error, now);
  }

  touchJob(job: string): Promise<void> {
    return touchJob(this.redis, this.keys, job);
  }

  forgetJob(job: string): Promise<void> {
    return forgetJob(this.redis, this.keys, job);
  }

  jobHealth(): Promise<JobHealth[]> {
    return readJobHealth(this.redis, this.keys);
  }

  jobRuns(): ReturnType<typeof readJobRuns> {
    return readJobRuns(this.redis, this.keys);
  }

  // ---- The whole deployment

  /** Deletes every key of this deployment (AFM's and BullMQ's): SCAN, never KEYS. */
  deleteDeployment(): Promise<number> {
    return deleteDeployment(this.redis, this.prefix);
  }
}

/** Deletes every key under a deployment's prefix; for a connection that has no Dispatch (tests, a reset). */
export async function deleteDeployment(redis: RedisClient, prefix: string): Promise<number> {
  await connectRedis(redis);
  if (primaries(redis).length === 0) throw new Error('no Redis primary to delete the deployment from');
  let deleted = 0;
  // A cluster's keys are spread over its primaries (a deployment's on one, by its hash tag): scan each.
  for (const node of primaries(redis)) {
    let cursor = '0';
    do {
      const [next, keys] = await node.scan(cursor, 'MATCH', deploymentPattern(prefix), 'COUNT', 1000);
      cursor = next;
      // One key per UNLINK: in a cluster, keys of one call must share a slot (a prefix without a hash tag spreads them).
      if (keys.length > 0) deleted += (await Promise.all(keys.map((key) => node.unlink(key)))).reduce((sum, n) => sum + n, 0);
    } while (cursor !== '0');
  }
  return deleted;
}

/** An agent's hash as claimTasks leaves it → what Postgres keeps. */
function agentRecord(id: string, hash: Record<string, string>): AgentRecord {
  const capabilities = (hash.capabilities ? JSON.parse(hash.capabilities) : {}) as Record<string, { version: number }>;
  return {
    id,
    name: hash.name ?? '',
    location: hash.location ? (JSON.parse(hash.location) as AgentLocation) : undefined,
    capabilities: Object.entries(capabilities).map(([task_type, { version }]) => ({ task_type, task_version: version })),
    first_seen: new Date(Number(hash.first_seen ?? hash.last_seen)),
    last_seen: new Date(Number(hash.last_seen)),
  };
}

/** Runs one command per item in one round trip; the replies in order (a failed command throws). */
async function each<T>(
  redis: RedisClient,
  items: readonly unknown[],
  add: (pipeline: ReturnType<RedisClient['pipeline']>, index: number) => void,
): Promise<T[]> {
  if (items.length === 0) return [];
  const pipeline = redis.pipeline();
  items.forEach((_, index) => add(pipeline, index));
  return ((await pipeline.exec()) ?? []).map(([error, value]) => {
    if (error) throw error;
    return value as T;
  });
}
