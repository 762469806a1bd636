/** Operations: liveness, readiness, Prometheus metrics (this replica's, and the fleet's). */
import type { FastifyReply } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { Registry } from 'prom-client';
import { z } from 'zod';
import { WORKER_STALE_MS } from '@afm/shared/dispatch/workers';
import { ErrorBody } from '@afm/shared/protocol';
import type { ApiDeps } from '../deps.js';
import { requireRole } from '../http/auth.js';
import { readFleet } from '../domain/fleet.js';
import { readiness } from '../domain/health.js';
import { errorBody } from '../http/errors.js';
import { authResponses, errorResponses } from '../http/responses.js';

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
      .describe(
        'degraded: the replica serves, but a maintenance job of the worker is failing or stalled (see jobs), or (with ?stores=redis) Postgres is unreachable',
      ),
    redis: z.literal('ok'),
    postgres: z.string().describe('"ok", or (with ?stores=redis only) why Postgres is unreachable'),
    workers: Workers,
    jobs: Jobs,
  })
  .meta({ id: 'Readiness' });
// Not strict: health checkers add cache-busting parameters of their own.
const ReadinessQuery = z.object({
  stores: z
    .enum(['all', 'redis'])
    .default('all')
    .describe(
      "which stores must answer (default all). redis: ready while Redis answers, whatever Postgres does — polls and results need Redis alone, so an orchestrator's readiness probe keeps replicas in service through a Postgres outage",
    ),
});
const NotReady = ErrorBody.extend({ redis: z.string(), postgres: z.string(), workers: Workers, jobs: Jobs }).meta({ id: 'NotReady' });
const PrometheusText = z.string().describe('Prometheus text exposition format');

export const opsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/healthz', {
    schema: {
      summary: 'Liveness: the process is up (does not check storage)',
      operationId: 'getLiveness',
      tags: ['operations'],
      security: [],
      response: { 200: z.object({ status: z.literal('alive') }), ...errorResponses(400, 500) },
    },
    handler: async () => ({ status: 'alive' as const }),
  });

  app.get('/readyz', {
    schema: {
      summary: 'Readiness: Redis and Postgres both answer (503 says which does not); status degraded when a worker job fails or stalls',
      operationId: 'getReadiness',
      tags: ['operations'],
      security: [],
      querystring: ReadinessQuery,
      response: { 200: Readiness, ...errorResponses(400), 503: NotReady },
    },
    handler: async (request, reply) => {
      const state = await readiness(deps);
      if (state.ready || (request.query.stores === 'redis' && state.redis === 'ok')) {
        return reply.code(200).send({
          status: state.degraded || !state.ready ? 'degraded' : 'ready',
          redis: 'ok',
          postgres: state.postgres,
          workers: state.workers,
          jobs: state.jobs,
        });
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

  const exposition = async (reply: FastifyReply, registry: Registry) => reply.type(registry.contentType).send(await registry.metrics());

  app.get('/metrics', {
    onRequest: requireRole(deps.tokens, 'admin'),
    schema: {
      summary: 'Prometheus metrics of this replica: its HTTP requests, the tasks it served, its process; sum them over replicas',
      operationId: 'getMetrics',
      tags: ['operations'],
      produces: ['text/plain'],
      response: { 200: PrometheusText, ...errorResponses(400, 500), ...authResponses('admin') },
    },
    handler: async (_request, reply) => exposition(reply, deps.metrics.registry),
  });

  app.get('/metrics/fleet', {
    onRequest: requireRole(deps.tokens, 'admin'),
    schema: {
      summary: 'Prometheus metrics of the whole fleet, read from Redis and Postgres, the same from every replica: scrape one target',
      operationId: 'getFleetMetrics',
      tags: ['operations'],
      produces: ['text/plain'],
      response: { 200: PrometheusText, ...errorResponses(400, 500, 503), ...authResponses('admin') },
    },
    handler: async (_request, reply) => {
      deps.metrics.setFleet(await readFleet(deps));
      return exposition(reply, deps.metrics.fleetRegistry);
    },
  });
};
