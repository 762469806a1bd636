/**
 * `buildApp(deps)` returns an unstarted Fastify app serving protocol v1 (SPEC §2). It holds no state of
 * its own: everything lives in Redis and Postgres, so any replica can serve any request (SPEC §4.5).
 */
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { ApiDeps } from './deps.js';
import { registerErrorHandling } from './http/errors.js';
import { agentRoutes } from './routes/agent.routes.js';
import { bpmsRoutes } from './routes/bpms.routes.js';
import { statusRoutes } from './routes/status.routes.js';
import { opsRoutes } from './routes/ops.routes.js';
import { docs } from './http/docs.js';
import { dashboard } from './http/dashboard.js';
import { readRoutes } from './routes/read.routes.js';

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One debug line per request comes from the onResponse hook below instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.BODY_LIMIT,
    routerOptions: { ignoreTrailingSlash: true },
    // On close, new requests get 503 while in-flight ones finish.
    return503OnClosing: true,
  }).withTypeProvider<ZodTypeProvider>();

  registerErrorHandling(app);
  // Long polls answer at once when the replica shuts down, instead of holding the shutdown up.
  app.addHook('preClose', async () => deps.notifications.close());
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    deps.metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    request.log.debug(
      { method: request.method, url: request.url, statusCode: reply.statusCode, ms: reply.elapsedTime },
      'request',
    );
  });

  // Swagger collects routes as they are added (onRoute), so it comes first.
  await app.register(docs, { deps });
  await app.register(bpmsRoutes, { deps });
  await app.register(agentRoutes, { deps });
  await app.register(statusRoutes, { deps });
  await app.register(opsRoutes, { deps });
  await app.register(readRoutes, { deps, prefix: '/api' });
  await app.register(dashboard);
  return app;
}
