/**
 * The OpenAPI document, generated from the routes' zod schemas (the same ones that validate), at
 * /docs/json, with Swagger UI at /docs — served from the package, no CDN.
 */
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.js';
import { requireRole } from './auth.js';

export const docs = fp<{ deps: ApiDeps }>(
  async (app, { deps }) => {
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'SLAMon Agent Fleet Manager',
          description:
            'Protocol version 1 (BPMS and agent routes) plus operations routes. Errors are `{statusCode, code, error, message}`: 4xx means "fix the request", 503 "retry later".',
          version: '0.1.0',
        },
        tags: [
          { name: 'protocol v1', description: 'What SLAMon agents and BPMS clients speak (docs/protocol.md)' },
          { name: 'operations', description: 'Health, readiness and metrics' },
          { name: 'read API', description: 'What the dashboard reads: tasks, test runs, agents, queues' },
        ],
        components: {
          securitySchemes: {
            bearer: { type: 'http', scheme: 'bearer', description: 'agent, bpms or admin token, when authentication is on' },
          },
        },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
      transformObject: jsonSchemaTransformObject,
    });
    await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiHooks: { onRequest: requireRole(deps.tokens, 'admin') } });
  },
  { name: 'afm-docs' },
);
