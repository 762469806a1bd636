/**
 * AFM's Redis scripts (../../lua/*.lua), one typed method each. The file name says how many keys a
 * script takes (`name-<numKeys>.lua`); claimTasks takes a variable number (two per capability queue).
 */
import { readFileSync } from 'node:fs';
import type { Redis } from 'ioredis';
import { afmKeys, bullKeys, type AfmKeys, type TaskOutcome } from '../queues.js';

const SCRIPT_FILES = {
  claimTasks: 'claimTasks.lua',
  answerTask: 'answerTask-5.lua',
  finishTask: 'finishTask-2.lua',
  restoreClaim: 'restoreClaim-5.lua',
  countWaiting: 'countWaiting-1.lua',
  failSilentAgents: 'failSilentAgents-5.lua',
  dropAgents: 'dropAgents-3.lua',
  drainQueue: 'drainQueue-3.lua',
} as const;

type ScriptName = keyof typeof SCRIPT_FILES;

/**
 * An agent that polls unchanged is copied to Postgres at most this often: its last_seen there lags by
 * up to this much (Redis has the exact time), and a fleet of idle agents costs few Postgres writes.
 */
export const AGENT_RESYNC_MS = 15_000;

const sources = new Map<ScriptName, { lua: string; numberOfKeys?: number }>();
function source(name: ScriptName) {
  let script = sources.get(name);
  if (!script) {
    const file = SCRIPT_FILES[name];
    const keys = /-(\d+)\.lua$/.exec(file)?.[1];
    script = {
      lua: readFileSync(new URL(`../../lua/${file}`, import.meta.url), 'utf8'),
      ...(keys ? { numberOfKeys: Number(keys) } : {}),
    };
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
}

export interface ClaimedJob {
  /** The job's data: a TaskJob as JSON. */
  data: string;
  /** When the task was posted (ms). */
  postedAt: number;
}

export type AnswerReply =
  | { accepted: true; agentId: string; claimedAt: number }
  | { accepted: false; state: 'missing' | 'waiting' | 'answered' | 'done' | (string & {}) };

/** Typed access to AFM's scripts on one ioredis client, for one key prefix. */
export class DispatchScripts {
  readonly keys: AfmKeys;

  constructor(
    readonly redis: Redis,
    readonly prefix: string,
  ) {
    this.keys = afmKeys(prefix);
    for (const name of Object.keys(SCRIPT_FILES) as ScriptName[]) {
      if (!(name in redis)) redis.defineCommand(name, source(name));
    }
  }

  private call(name: ScriptName): ScriptCall {
    return (this.redis as unknown as Record<ScriptName, ScriptCall>)[name].bind(this.redis);
  }

  /** Registers the poll and claims up to `maxTasks` tasks, oldest first. */
  async claimTasks(poll: AgentPoll): Promise<ClaimedJob[]> {
    const k = this.keys;
    const keys = [k.agentsSeen, k.agent(poll.agentId), k.agentsDirty, k.claimsDirty, k.held(poll.agentId), k.stats, k.inProgress, k.holders];
    for (const queue of poll.queues) {
      const bull = bullKeys(this.prefix, queue);
      keys.push(bull.wait, bull.meta);
    }
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
      ...poll.queues,
    ];
    const reply = (await this.call('claimTasks')(keys.length, ...keys, ...args)) as string[];
    const claimed: ClaimedJob[] = [];
    for (let i = 0; i < reply.length; i += 2) claimed.push({ data: reply[i]!, postedAt: Number(reply[i + 1]) });
    return claimed;
  }

  /** Compare-and-set "claimed" → "answered": true only for the first outcome of a claimed task. */
  async answerTask(taskId: string, outcome: TaskOutcome, now: number): Promise<AnswerReply> {
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
    )) as string[];
    if (reply[0] === 'ok') return { accepted: true, agentId: reply[1]!, claimedAt: Number(reply[2]) };
    return { accepted: false, state: reply[0]! };
  }

  /** After Postgres holds the outcome: shrink the task hash to an expiring tombstone. */
  async finishTask(taskId: string, tombstoneSeconds: number): Promise<void> {
    await this.call('finishTask')(this.keys.task(taskId), this.keys.unsaved, taskId, Math.ceil(tombstoneSeconds));
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
  async failSilentAgents(
    candidates: { agentId: string; lastSeen: number; error: string }[],
    now: number,
  ): Promise<{ taskId: string; agentId: string; claimedAt: number; error: string }[]> {
    if (candidates.length === 0) return [];
    const args = candidates.flatMap(({ agentId, lastSeen, error }) => [agentId, lastSeen, error]);
    const reply = (await this.call('failSilentAgents')(
      this.keys.agentsSeen,
      this.keys.unsaved,
      this.keys.stats,
      this.keys.inProgress,
      this.keys.holders,
      now,
      this.keys.taskPrefix,
      this.keys.heldPrefix,
      ...args,
    )) as string[];
    const failed = [];
    for (let i = 0; i < reply.length; i += 4) {
      failed.push({ taskId: reply[i]!, agentId: reply[i + 1]!, claimedAt: Number(reply[i + 2]), error: reply[i + 3]! });
    }
    return failed;
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
    const bull = bullKeys(this.prefix, queue);
    const outcome: TaskOutcome = { state: 'failed', error };
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

  /** Tasks waiting in all task queues. */
  async countWaiting(): Promise<number> {
    return Number(await this.call('countWaiting')(this.keys.queues, this.prefix));
  }
}
