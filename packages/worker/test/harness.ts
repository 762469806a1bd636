/** Worker dependencies on isolated storage, plus the API's task queue for putting tasks in. */
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { openWorkerDeps, type OpenedWorkerDeps } from '../src/deps.js';

export interface WorkerHarness {
  env: TestEnv;
  deps: OpenedWorkerDeps;
  close(): Promise<void>;
}

export async function startWorkerHarness(label: string, overrides: Record<string, string> = {}): Promise<WorkerHarness> {
  const env = await createTestEnv(label, overrides);
  const deps = await openWorkerDeps(env.config, env.logger);
  return {
    env,
    deps,
    async close() {
      await deps.close();
      await env.cleanup();
    },
  };
}
