/**
 * `buildApp(deps)` returns an unstarted Fastify app serving protocol v1 (docs/protocol.md). It holds no state of
 * its own: everything lives in Redis and Postgres, so any replica can serve any request (invariant 5).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { AfmError } from '@afm/shared/errors';
import { redactUrl } from '@afm/shared/logger';
import type { ApiDeps } from './deps.js';
import { registerBodyParsing } from './http/body.js';
import { BodyBudget, defaultBodyBudget } from './http/budget.js';
import { errorBody, registerErrorHandling } from './http/errors.js';
import { agentRoutes } from './routes/agent.routes.js';
import { bpmsRoutes } from './routes/bpms.routes.js';
import { statusRoutes } from './routes/status.routes.js';
import { opsRoutes } from './routes/ops.routes.js';
import { docs } from './http/docs.js';
import { dashboard } from './http/dashboard.js';
import { readRoutes } from './routes/read.routes.js';
import { adminRoutes } from './routes/admin.routes.js';

/** The routes whose latency GET /api/history charts: the BPMS's and the agents' hot path. */
export const LATENCY_ROUTES: ReadonlySet<string> = new Set(['POST /task', 'GET /task/:task_id', 'POST /tasks', 'POST /tasks/response']);

const isLongPoll = (query: unknown) => {
  const wait = (query as { wait?: unknown } | undefined)?.wait;
  return wait !== undefined && Number(wait) > 0;
};

export async function buildApp(deps: ApiDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One debug line per request comes from the onResponse hook below instead.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: deps.config.BODY_LIMIT,
    routerOptions: { ignoreTrailingSlash: true },
    // On close, new requests get 503 while in-flight ones finish.
    return503OnClosing: true,
    // Node answers a request without Host with a bare 400 of its own; AFM's hook below answers it in JSON.
    http: { requireHostHeader: false },
    // A request whose headers or body never finish arriving is cut off (its body after 30 s, body.ts).
    requestTimeout: 60_000,
  }).withTypeProvider<ZodTypeProvider>();

  registerErrorHandling(app);
  registerBodyParsing(
    app,
    {
      bodyLimit: deps.config.BODY_LIMIT,
      depthLimit: deps.config.JSON_DEPTH_LIMIT,
      ...(deps.bodyReadMs ? { readMs: deps.bodyReadMs } : {}),
    },
    new BodyBudget(deps.bodyBudget ?? defaultBodyBudget()),
  );
  // A client that asks before sending (Expect: 100-continue) a body announced as too large gets its
  // 413 at once and sends nothing; any other goes on as Node would by itself.
  app.server.on('checkContinue', (request: IncomingMessage, response: ServerResponse) => {
    if (Number(request.headers['content-length']) > deps.config.BODY_LIMIT) {
      const body = errorBody(413, 'AFM_ERR_PAYLOAD_TOO_LARGE', `request body is larger than ${deps.config.BODY_LIMIT} bytes (BODY_LIMIT)`);
      response.writeHead(413, { 'content-type': 'application/json; charset=utf-8', connection: 'close' }).end(JSON.stringify(body));
      return;
    }
    response.writeContinue();
    app.server.emit('request', request, response);
  });
  app.addHook('onRequest', async (request) => {
    if (request.headers.host === undefined && request.raw.httpVersionMinor >= 1) {
      throw new AfmError('AFM_ERR_VALIDATION', 'headers.host: required (HTTP/1.1)');
    }
  });
  // Long polls answer at once when the replica shuts down, instead of holding the shutdown up.
  app.addHook('preClose', async () => deps.notifications.close());
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unknown';
    deps.metrics.observeRequest(request.method, route, reply.statusCode, reply.elapsedTime / 1000);
    const charted = `${request.method} ${route}`;
    // A long poll's time is mostly its wait, not AFM's latency.
    if (LATENCY_ROUTES.has(charted) && !isLongPoll(request.query)) deps.latency.observe(charted, reply.elapsedTime / 1000);
    request.log.debug(
      { method: request.method, url: redactUrl(request.url), statusCode: reply.statusCode, ms: reply.elapsedTime },
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
  await app.register(adminRoutes, { deps, prefix: '/api' });
  await app.register(dashboard);
  return app;
}
