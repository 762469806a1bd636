/** Operations: liveness, readiness, Prometheus metrics. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { WORKER_STALE_MS } from '@afm/shared/dispatch/workers';
import { ErrorBody } from '@afm/shared/protocol';
import type { ApiDeps } from '../deps.js';
import { requireRole } from '../http/auth.js';
import { readFleet } from '../domain/fleet.js';
import { readiness } from '../domain/health.js';
import { errorBody } from '../http/errors.js';
import { errorResponses } from '../http/responses.js';

const Workers = z
  .number()
  .int()
  .nullable()
  .describe(
    `Worker processes that sent a heartbeat within ${WORKER_STALE_MS / 1000} s (null: unknown). Readiness does not depend on it: results wait in Redis for a worker`,
  );
const Jobs = z
  .record(z.string(), z.string())
  .describe(
    'The worker\'s maintenance jobs (sync, reconcile, deadlines, cleanup): "ok", or since when one fails and why, or that it stopped running',
  );
const Readiness = z
  .object({
    status: z
      .enum(['ready', 'degraded'])
      .describe('degraded: the replica serves, but a maintenance job of the worker is failing or stalled (see jobs)'),
    redis: z.literal('ok'),
    postgres: z.literal('ok'),
    workers: Workers,
    jobs: Jobs,
  })
  .meta({ id: 'Readiness' });
const NotReady = ErrorBody.extend({ redis: z.string(), postgres: z.string(), workers: Workers, jobs: Jobs }).meta({ id: 'NotReady' });

export const opsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/healthz', {
    schema: {
      summary: 'Liveness: the process is up (does not check storage)',
      tags: ['operations'],
      security: [],
      response: { 200: z.object({ status: z.literal('alive') }), ...errorResponses(500) },
    },
    handler: async () => ({ status: 'alive' as const }),
  });

  app.get('/readyz', {
    schema: {
      summary: 'Readiness: Redis and Postgres both answer (503 says which does not); status degraded when a worker job fails or stalls',
      tags: ['operations'],
      security: [],
      response: { 200: Readiness, 503: NotReady },
    },
    handler: async (_request, reply) => {
      const state = await readiness(deps);
      if (state.ready) {
        return reply
          .code(200)
          .send({ status: state.degraded ? 'degraded' : 'ready', redis: 'ok', postgres: 'ok', workers: state.workers, jobs: state.jobs });
      }
      const down = [state.redis === 'ok' ? null : 'Redis', state.postgres === 'ok' ? null : 'Postgres'].filter(Boolean).join(' and ');
      return reply.code(503).send({
        ...errorBody(503, 'AFM_ERR_UNAVAILABLE', `${down} unreachable`),
        redis: state.redis,
        postgres: state.postgres,
        workers: state.workers,
        jobs: state.jobs,
      });
    },
  });

  app.get('/metrics', {
    onRequest: requireRole(deps.tokens, 'admin'),
    schema: {
      summary: "Prometheus metrics: fleet-wide task and agent figures, and this replica's own",
      tags: ['operations'],
      produces: ['text/plain'],
      response: { 200: z.string().describe('Prometheus text exposition format'), ...errorResponses(503) },
    },
    handler: async (_request, reply) => {
      deps.metrics.setFleet(await readFleet(deps));
      return reply.type(deps.metrics.registry.contentType).send(await deps.metrics.registry.metrics());
    },
  });
};
