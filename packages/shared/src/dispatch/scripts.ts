/**
 * AFM's Redis scripts (../../lua/*.lua), one typed method each, their replies decoded here. The file
 * name says how many keys a script takes (`name-<numKeys>.lua`). Part of the dispatch core: callers use
 * the Dispatch class (dispatch.ts), which adds what is not a script.
 */
import { readFileSync } from 'node:fs';
import type { RedisClient } from '../redis.js';
import { AfmError } from '../errors.js';
import { parseOutcome, taskQueueName, type TaskJob, type TaskOutcome } from '../queues.js';
import { luaInclude, queueKeys } from './bullmq.js';
import { dispatchKeys, type DispatchKeys } from './keys.js';
import { REPLY } from './states.js';

const SCRIPT_FILES = {
  claimTasks: 'claimTasks-11.lua',
  answerTask: 'answerTask-5.lua',
  finishTask: 'finishTask-3.lua',
  restoreClaim: 'restoreClaim-5.lua',
  countWaiting: 'countWaiting-1.lua',
  failSilentAgents: 'failSilentAgents-6.lua',
  timeoutTasks: 'timeoutTasks-6.lua',
  expireTasks: 'expireTasks-4.lua',
  cancelTask: 'cancelTask-5.lua',
  wakeOne: 'wakeOne-1.lua',
  enqueueTasks: 'enqueueTasks-3.lua',
  releaseClaim: 'releaseClaim-5.lua',
  dropAgents: 'dropAgents-3.lua',
  drainQueue: 'drainQueue-3.lua',
  forgetSynced: 'forgetSynced-1.lua',
} as const;

type ScriptName = keyof typeof SCRIPT_FILES;

/**
 * An agent that polls unchanged is copied to Postgres at most this often: its last_seen there lags by
 * up to this much (Redis has the exact time), and a fleet of idle agents costs few Postgres writes.
 */
export const AGENT_RESYNC_MS = 15_000;

/**
 * Most bytes of task data one poll hands out (its first task always goes, whatever its size): an
 * agent's answer, and the memory a replica needs to make it, stay bounded.
 */
export const MAX_POLL_DATA_BYTES = 1_048_576;

/** A holder no agent has: given to answerTask, it refuses every claim (the caller saw no holder). */
export const NO_HOLDER = '-';

const read = (path: string) => readFileSync(new URL(`../../lua/${path}`, import.meta.url), 'utf8');

/** A script's text with its `--- @include "name"` lines replaced by lua/includes/name.lua (`bullmq`: generated). */
const withIncludes = (lua: string) =>
  lua.replace(/^--- @include "([\w-]+)"$/gm, (_, include: string) =>
    include === 'bullmq' ? luaInclude() : read(`includes/${include}.lua`),
  );

const sources = new Map<ScriptName, { lua: string; numberOfKeys?: number }>();
function source(name: ScriptName) {
  let script = sources.get(name);
  if (!script) {
    const file = SCRIPT_FILES[name];
    const keys = /-(\d+)\.lua$/.exec(file)?.[1];
    script = { lua: withIncludes(read(file)), ...(keys ? { numberOfKeys: Number(keys) } : {}) };
    sources.set(name, script);
  }
  return script;
}

type ScriptCall = (...args: (string | number)[]) => Promise<unknown>;

export interface AgentPoll {
  agentId: string;
  name: string;
  /** JSON of the agent's location, or '' when it sent none. */
  location: string;
  /** JSON of the agent's capabilities. */
  capabilities: string;
  agentTime: string;
  maxTasks: number;
  /** Capability queues, in the agent's order. */
  queues: string[];
  now: number;
  /** Polls allowed per agent per second; 0 or absent: no limit. */
  rateLimit?: number;
}

export interface ClaimedJob {
  /** The job's data: a TaskJob as JSON. */
  data: string;
  /** When the task was posted (ms). */
  postedAt: number;
}

/** A claim lost to a silent agent or a timeout: `retried` when the task went back to its queue. */
export interface LostClaim {
  taskId: string;
  agentId: string;
  claimedAt: number;
  /** The task_error recorded, or null when the task was retried. */
  error: string | null;
  attempts: number;
}

function lostClaims(reply: string[]): LostClaim[] {
  const lost: LostClaim[] = [];
  for (let i = 0; i < reply.length; i += 5) {
    lost.push({
      taskId: reply[i]!,
      agentId: reply[i + 1]!,
      claimedAt: Number(reply[i + 2]),
      error: reply[i + 3] || null,
      attempts: Number(reply[i + 4]),
    });
  }
  return lost;
}

/** A task for `enqueueTasks`: posted at `postedAt` (ms); `newTask` when just posted, not queued again. */
export interface EnqueueItem {
  task: TaskJob;
  /** The task as JSON: the job's data. */
  data: string;
  postedAt: number;
  newTask: boolean;
}

export type AnswerReply =
  | { accepted: true; agentId: string; claimedAt: number; attempts: number }
  /** An outcome was accepted before and is on its way to Postgres: this one, from this claim; `byAgent`: an agent sent it (not AFM). */
  | {
      accepted: false;
      state: 'answered';
      first: TaskOutcome;
      agentId: string | null;
      finishedAt: number;
      claimedAt: number | null;
      attempts: number;
      byAgent: boolean;
    }
  /** `missing`: Redis does not know the task; `done`: its outcome is in Postgres; `other-agent`: not the given holder's. */
  | { accepted: false; state: 'missing' | 'waiting' | 'done' | 'other-agent' };

/** Typed access to AFM's scripts on one ioredis client, for one key prefix. */
export class DispatchScripts {
  readonly keys: DispatchKeys;

  constructor(
    readonly redis: RedisClient,
    readonly prefix: string,
  ) {
    this.keys = dispatchKeys(prefix);
    for (const name of Object.keys(SCRIPT_FILES) as ScriptName[]) {
      if (!(name in redis)) redis.defineCommand(name, source(name));
    }
  }

  protected call(name: ScriptName): ScriptCall {
    return (this.redis as unknown as Record<ScriptName, ScriptCall>)[name].bind(this.redis);
  }

  /** Registers the poll and claims up to `maxTasks` tasks, oldest first. */
  async claimTasks(poll: AgentPoll): Promise<ClaimedJob[]> {
    const k = this.keys;
    const keys = [
      k.agentsSeen,
      k.agent(poll.agentId),
      k.agentsDirty,
      k.claimsDirty,
      k.held(poll.agentId),
      k.stats,
      k.inProgress,
      k.holders,
      k.expiry,
      k.deadlines,
      k.pollRate(poll.agentId, Math.floor(poll.now / 1000)),
    ];
    const args = [
      poll.agentId,
      poll.now,
      poll.maxTasks,
      poll.name,
      poll.location,
      poll.capabilities,
      poll.agentTime,
      k.taskPrefix,
      this.prefix,
      AGENT_RESYNC_MS,
      poll.rateLimit ?? 0,
      MAX_POLL_DATA_BYTES,
      ...poll.queues,
    ];
    const reply = (await this.call('claimTasks')(...keys, ...args)) as string[];
    if (reply[0] === REPLY.rateLimited) {
      throw new AfmError('AFM_ERR_RATE_LIMITED', `agent ${poll.agentId} polls more than ${poll.rateLimit} times a second`, {
        headers: { 'retry-after': '1' },
      });
    }
    const claimed: ClaimedJob[] = [];
    for (let i = 0; i < reply.length; i += 2) claimed.push({ data: reply[i]!, postedAt: Number(reply[i + 1]) });
    return claimed;
  }

  /**
   * Compare-and-set "claimed" → "answered": true only for the first outcome of a claimed task, and,
   * given `holder`, only when that agent holds the claim.
   */
  async answerTask(taskId: string, outcome: TaskOutcome, now: number, holder = ''): Promise<AnswerReply> {
    const reply = (await this.call('answerTask')(
      this.keys.task(taskId),
      this.keys.unsaved,
      this.keys.stats,
      this.keys.inProgress,
      this.keys.holders,
      taskId,
      JSON.stringify(outcome),
      now,
      this.keys.heldPrefix,
      outcome.state,
      holder,
    )) as string[];
    if (reply[0] === REPLY.ok) return { accepted: true, agentId: reply[1]!, claimedAt: Number(reply[2]), attempts: Number(reply[3]) };
    if (reply[0] === REPLY.answered) {
      return {
        accepted: false,
        state: 'answered',
        first: parseOutcome(reply[1]!),
        agentId: reply[2] || null,
        finishedAt: Number(reply[3]),
        claimedAt: reply[4] ? Number(reply[4]) : null,
        attempts: Number(reply[5]),
        byAgent: reply[6] === 'agent',
      };
    }
    return { accepted: false, state: reply[0] as 'missing' | 'waiting' | 'done' | 'other-agent' };
  }

  /** After Postgres holds the outcome: shrink the task hash to an expiring tombstone; tell any watcher. */
  async finishTask(taskId: string, tombstoneSeconds: number, now = Date.now()): Promise<void> {
    await this.call('finishTask')(
      this.keys.task(taskId),
      this.keys.unsaved,
      this.keys.watched,
      taskId,
      Math.ceil(tombstoneSeconds),
      now,
      this.keys.finishedChannel,
    );
  }

  /** Rebuilds a claim from Postgres when Redis does not know the task; true when restored. */
  async restoreClaim(taskId: string, agentId: string, claimedAt: number, queue: string, now = Date.now()): Promise<boolean> {
    const restored = await this.call('restoreClaim')(
      this.keys.task(taskId),
      this.keys.held(agentId),
      this.keys.agentsSeen,
      this.keys.inProgress,
      this.keys.holders,
      taskId,
      agentId,
      claimedAt,
      queue,
      now,
    );
    return restored === 1;
  }

  /**
   * Fails the claimed tasks of agents still unseen since `lastSeen`, each with its `error`; the first
   * outcome wins as for results. Returns the tasks failed.
   */
  async failSilentAgents(candidates: { agentId: string; lastSeen: number; error: string }[], now: number): Promise<LostClaim[]> {
    if (candidates.length === 0) return [];
    const args = candidates.flatMap(({ agentId, lastSeen, error }) => [agentId, lastSeen, error]);
    return lostClaims(
      (await this.call('failSilentAgents')(
        this.keys.agentsSeen,
        this.keys.unsaved,
        this.keys.stats,
        this.keys.inProgress,
        this.keys.holders,
        this.keys.deadlines,
        now,
        this.keys.taskPrefix,
        this.keys.heldPrefix,
        this.prefix,
        ...args,
      )) as string[],
    );
  }

  /** Claims whose task_timeout ended: retried or failed like a silent agent's. */
  async timeoutTasks(now: number, max: number): Promise<LostClaim[]> {
    const k = this.keys;
    return lostClaims(
      (await this.call('timeoutTasks')(
        k.deadlines,
        k.unsaved,
        k.stats,
        k.inProgress,
        k.holders,
        k.agentsSeen,
        now,
        k.taskPrefix,
        k.heldPrefix,
        this.prefix,
        max,
      )) as string[],
    );
  }

  /** Waiting tasks whose task_ttl ended: failed as expired. */
  async expireTasks(now: number, max: number): Promise<{ taskId: string; error: string }[]> {
    const k = this.keys;
    const reply = (await this.call('expireTasks')(k.expiry, k.unsaved, k.stats, k.queues, now, k.taskPrefix, this.prefix, max)) as string[];
    const expired = [];
    for (let i = 0; i < reply.length; i += 2) expired.push({ taskId: reply[i]!, error: reply[i + 1]! });
    return expired;
  }

  /** Cancels a waiting or claimed task (first outcome wins); otherwise says what state it is in. */
  async cancelTask(
    taskId: string,
    queue: string,
    now: number,
  ): Promise<
    | { cancelled: true; agentId: string | null; claimedAt: number | null }
    | { cancelled: false; state: string; outcome: TaskOutcome | null; finishedAt: number | null }
  > {
    const k = this.keys;
    const outcome: TaskOutcome = { state: 'failed', error: 'cancelled', cause: 'cancelled' };
    const reply = (await this.call('cancelTask')(
      k.task(taskId),
      k.unsaved,
      k.stats,
      k.inProgress,
      k.holders,
      taskId,
      now,
      JSON.stringify(outcome),
      k.heldPrefix,
      this.prefix,
      queue,
    )) as string[];
    if (reply[0] !== REPLY.cancelled) {
      return {
        cancelled: false,
        state: reply[0]!,
        outcome: reply[1] ? parseOutcome(reply[1]) : null,
        finishedAt: reply[2] ? Number(reply[2]) : null,
      };
    }
    return { cancelled: true, agentId: reply[1] || null, claimedAt: reply[2] ? Number(reply[2]) : null };
  }

  /**
   * Puts tasks in their queues in one call (the job id is the task id, the job timestamp the posting
   * time); `newTask` ones are counted as posted and each wakes a waiting poll. Per task: its queue, and
   * whether it was queued (false: its job was already there).
   */
  async enqueueTasks(items: EnqueueItem[], now = Date.now()): Promise<{ queue: string; queued: boolean }[]> {
    const k = this.keys;
    const args: (string | number)[] = [k.queues, k.stats, k.expiry, this.prefix, k.taskPrefix, k.waiting(''), k.wakeChannel(''), now];
    const queues = items.map(({ task }) => taskQueueName(task.task_type, task.task_version, task.task_location));
    items.forEach(({ task, data, postedAt, newTask }, i) => {
      args.push(queues[i]!, task.task_id, task.task_type, data, postedAt, newTask ? '1' : '0');
      args.push(task.task_ttl ?? '', task.task_timeout ?? '', task.task_retries ?? '');
    });
    const reply = (await this.call('enqueueTasks')(...args)) as number[];
    return queues.map((queue, i) => ({ queue, queued: reply[i] === 1 }));
  }

  /** Wakes the long poll waiting longest for this queue, if any; true when one was woken. */
  async wakeOne(queue: string, now = Date.now()): Promise<boolean> {
    return Boolean(await this.call('wakeOne')(this.keys.waiting(queue), now, this.keys.wakeChannel(''), queue));
  }

  /** Puts back a task claimed for an agent that will never get the answer. */
  async releaseClaim(taskId: string, agentId: string, jobData: string, postedAt: number): Promise<boolean> {
    const k = this.keys;
    const released = await this.call('releaseClaim')(
      k.task(taskId),
      k.held(agentId),
      k.holders,
      k.inProgress,
      k.deadlines,
      taskId,
      agentId,
      this.prefix,
      jobData,
      postedAt,
    );
    return released === 1;
  }

  /** Forgets agents unseen since `cutoff` that hold no task; returns their ids. */
  async dropAgents(agentIds: string[], cutoff: number): Promise<string[]> {
    if (agentIds.length === 0) return [];
    return (await this.call('dropAgents')(
      this.keys.agentsSeen,
      this.keys.agentsDirty,
      this.keys.holders,
      cutoff,
      this.keys.agentPrefix,
      this.keys.heldPrefix,
      ...agentIds,
    )) as string[];
  }

  /** Fails up to `max` waiting tasks of a queue with `error`; returns their ids. */
  async drainQueue(queue: string, error: string, now: number, max: number): Promise<string[]> {
    const bull = queueKeys(this.prefix, queue);
    const outcome: TaskOutcome = { state: 'failed', error, cause: 'drained' };
    return (await this.call('drainQueue')(
      bull.wait,
      this.keys.unsaved,
      this.keys.stats,
      bull.jobPrefix,
      this.keys.taskPrefix,
      now,
      JSON.stringify(outcome),
      queue,
      max,
    )) as string[];
  }

  /** Takes synced claims off the dirty list, each only while it is still the claim that was synced. */
  async forgetSyncedClaims(claims: { taskId: string; score: string }[]): Promise<number> {
    if (claims.length === 0) return 0;
    return Number(await this.call('forgetSynced')(this.keys.claimsDirty, ...claims.flatMap((claim) => [claim.taskId, claim.score])));
  }

  /** Tasks waiting in all task queues. */
  async countWaiting(): Promise<number> {
    return Number(await this.call('countWaiting')(this.keys.queues, this.prefix));
  }
}
