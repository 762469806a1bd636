/**
 * The `results` queue: the hand-off of finished tasks from API replicas (and the worker's jobs) to the
 * worker, which writes them to Postgres. Results wait here while Postgres is down. Jobs
 * are added through the Dispatch (dispatch.ts).
 */
import { Queue, type JobsOptions } from 'bullmq';
import type { RedisClient } from '../redis.js';
import { RESULTS_QUEUE, type ResultJob, type ResultsJobName } from '../queues.js';

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

export function createResultsQueue(redis: RedisClient, prefix: string): ResultsQueue {
  const queue: ResultsQueue = new Queue(RESULTS_QUEUE, {
    connection: redis,
    prefix,
    skipVersionCheck: true,
    streams: { events: { maxLen: 1_000 } },
  });
  queue.on('error', () => undefined);
  return queue;
}
