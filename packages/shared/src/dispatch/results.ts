/**
 * The `results` queue: the hand-off of finished tasks from API replicas (and cleanup) to the worker,
 * which writes them to Postgres. Results wait here while Postgres is down (SPEC §4.4).
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import { jobOutcome, RESULTS_QUEUE, type ResultJob, type ResultsJobName, type TaskOutcome } from '../queues.js';
import type { AnswerReply, DispatchScripts, LostClaim } from './scripts.js';

export type ResultsQueue = Queue<ResultJob, unknown, ResultsJobName>;

/**
 * jobId = task id makes a re-submitted result a no-op while the first is pending. Failures other than
 * "Postgres is down" (which the worker waits out without spending attempts) are retried a few times and
 * then kept in the failed set for an operator to inspect and retry.
 */
export const RESULT_JOB_OPTIONS: JobsOptions = {
  attempts: 10,
  backoff: { type: 'exponential', delay: 1_000 },
  removeOnComplete: true,
  removeOnFail: false,
};

export function createResultsQueue(redis: Redis, prefix: string): ResultsQueue {
  const queue: ResultsQueue = new Queue(RESULTS_QUEUE, {
    connection: redis,
    prefix,
    skipVersionCheck: true,
    streams: { events: { maxLen: 1_000 } },
  });
  queue.on('error', () => undefined);
  return queue;
}

export async function submitResult(queue: ResultsQueue, job: ResultJob): Promise<void> {
  await queue.add('result', job, { ...RESULT_JOB_OPTIONS, jobId: job.task_id });
}

export async function submitResults(queue: ResultsQueue, jobs: ResultJob[]): Promise<void> {
  if (jobs.length === 0) return;
  await queue.addBulk(jobs.map((job) => ({ name: 'result' as const, data: job, opts: { ...RESULT_JOB_OPTIONS, jobId: job.task_id } })));
}

/** Queues the results jobs of claims lost to silence or a timeout that ended in failure (not retried). */
export async function submitLostClaims(queue: ResultsQueue, lost: LostClaim[], now: number): Promise<void> {
  await submitResults(
    queue,
    lost.flatMap(({ taskId, agentId, claimedAt, error, attempts }) =>
      error === null
        ? []
        : [{ task_id: taskId, outcome: { state: 'failed' as const, error }, finished_at: now, agent_id: agentId, claimed_at: claimedAt, attempts }],
    ),
  );
}

export interface SettleDeps {
  scripts: DispatchScripts;
  results: ResultsQueue;
  /** Told when the outcome was accepted but its results job could not be queued; sync re-queues it. */
  onSubmitError?: (error: unknown, taskId: string) => void;
}

/**
 * Settles a claimed task with its outcome, first one wins: compare-and-set in Redis, then a results job
 * for the worker. Once the compare-and-set succeeded the outcome is accepted: it is kept in Redis until
 * Postgres has it, so a failure to queue the job is reported, not thrown (sync re-queues it).
 */
/** `holder`: when given, only this agent's claim may be answered (a bound agent token). */
export async function settleTask(deps: SettleDeps, taskId: string, outcome: TaskOutcome, now: number, holder?: string): Promise<AnswerReply> {
  const reply = await deps.scripts.answerTask(taskId, outcome, now, holder);
  if (reply.accepted) {
    try {
      await submitResult(deps.results, {
        task_id: taskId,
        outcome: jobOutcome(outcome),
        finished_at: now,
        agent_id: reply.agentId,
        claimed_at: reply.claimedAt,
        attempts: reply.attempts,
      });
    } catch (error) {
      deps.onSubmitError?.(error, taskId);
    }
  }
  return reply;
}
