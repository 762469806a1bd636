/** One API instance on isolated storage (own database and Redis prefix), driven with `inject`. */
import type { FastifyInstance } from 'fastify';
import { createTestEnv, type TestEnv } from '@afm/shared/testing/env';
import { buildApp } from '../src/app.js';
import { openApiDeps, type OpenedApiDeps } from '../src/deps.js';

export interface ApiHarness {
  env: TestEnv;
  deps: OpenedApiDeps;
  app: FastifyInstance;
  close(): Promise<void>;
}

export async function startApiHarness(label: string, overrides: Record<string, string> = {}): Promise<ApiHarness> {
  const env = await createTestEnv(label, overrides);
  const deps = await openApiDeps(env.config, env.logger);
  const app = await buildApp(deps);
  await app.ready();
  return {
    env,
    deps,
    app,
    async close() {
      await app.close();
      await deps.close();
      await env.cleanup();
    },
  };
}
