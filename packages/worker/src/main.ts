/** Starts a worker from configuration; the caller owns signals and shutdown order. */
import type { Config } from '@afm/shared/config';
import type { Logger } from '@afm/shared/logger';
import { openWorkerDeps } from './deps.js';
import { startWorker, type WorkerOptions } from './worker.js';

export async function runWorker(options: { config: Config; logger: Logger } & WorkerOptions): Promise<{ close(): Promise<void> }> {
  const deps = await openWorkerDeps(options.config, options.logger);
  let worker;
  try {
    worker = await startWorker(deps, options);
  } catch (error) {
    await deps.close();
    throw error;
  }
  return {
    async close() {
      await worker.close();
      await deps.close();
    },
  };
}
