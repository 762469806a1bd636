/**
 * The OpenAPI document, generated from the routes' zod schemas (the same ones that validate), at
 * /docs/json, with Swagger UI at /docs — served from the package, no CDN.
 */
import { readFile } from 'node:fs/promises';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';
import { jsonSchemaTransform, jsonSchemaTransformObject } from 'fastify-type-provider-zod';
import type { ApiDeps } from '../deps.js';
import { requireRole } from './auth.js';

/** The API package's package.json (version, license), from src/http or dist/http alike. */
async function packageJson(relative: string): Promise<{ version?: string; license?: string }> {
  return JSON.parse(await readFile(new URL(relative, import.meta.url), 'utf8')) as { version?: string; license?: string };
}

export const docs = fp<{ deps: ApiDeps }>(
  async (app, { deps }) => {
    const api = await packageJson('../../package.json');
    await app.register(fastifySwagger, {
      openapi: {
        openapi: '3.1.0',
        info: {
          title: 'SLAMon Agent Fleet Manager',
          description:
            'Protocol version 1 (BPMS and agent routes) plus operations routes. Errors are `{statusCode, code, error, message}`: 4xx means "fix the request", 503 "retry later".',
          version: api.version ?? '0.0.0',
          ...(api.license ? { license: { name: api.license, identifier: api.license } } : {}),
        },
        // Relative: the paths are served wherever this document is, behind any balancer.
        servers: [{ url: '/', description: 'The AFM deployment serving this document' }],
        // `admin`: every admin action that changes the fleet, whichever file its route is in.
        tags: [
          { name: 'protocol v1', description: 'What SLAMon agents and BPMS clients speak (docs/protocol.md)' },
          { name: 'operations', description: 'Health, readiness and metrics' },
          { name: 'read API', description: 'What the dashboard reads: tasks, test runs, agents, queues (admin token)' },
          { name: 'admin', description: 'Admin actions that change the fleet, such as posting a task from the dashboard (admin token)' },
        ],
        components: {
          securitySchemes: {
            bearer: {
              type: 'http',
              scheme: 'bearer',
              description:
                'An agent, bpms or admin token, as each route says (SECURITY.md). Only while tokens are configured: without any, no route needs one',
            },
          },
        },
        security: [{ bearer: [] }],
      },
      transform: jsonSchemaTransform,
      transformObject: (document) => referencedSchemasOnly(jsonSchemaTransformObject(document)),
    });
    await app.register(fastifySwaggerUi, { routePrefix: '/docs', uiHooks: { onRequest: requireRole(deps.tokens, 'admin') } });
  },
  { name: 'afm-docs' },
);

const SCHEMA_REF = '#/components/schemas/';
type Schemas = Record<string, unknown>;

/** Names of the component schemas that `value` refers to. */
function refsOf(value: unknown, into = new Set<string>()): Set<string> {
  if (Array.isArray(value)) for (const item of value) refsOf(item, into);
  else if (value && typeof value === 'object') {
    for (const [key, child] of Object.entries(value)) {
      if (key === '$ref' && typeof child === 'string' && child.startsWith(SCHEMA_REF)) into.add(child.slice(SCHEMA_REF.length));
      else refsOf(child, into);
    }
  }
  return into;
}

/** The component schemas reached from the paths, directly or through other schemas. */
function reachable(document: { paths?: unknown }, schemas: Schemas): Set<string> {
  const seen = new Set<string>();
  const queue = [...refsOf(document.paths)];
  while (queue.length > 0) {
    const name = queue.pop()!;
    if (seen.has(name)) continue;
    seen.add(name);
    queue.push(...refsOf(schemas[name]));
  }
  return seen;
}

/**
 * fastify-type-provider-zod emits every schema of zod's global registry (each `.meta({id})`) twice,
 * as `X` (what responses are) and `XInput` (what requests are), whether a route uses it or not. Keep
 * only the schemas the routes reach, and name a request schema `X` too where `X` is not used as a
 * response, or is the same schema.
 */
function referencedSchemasOnly<D extends { paths?: unknown; components?: { schemas?: Schemas } }>(document: D): D {
  let text = JSON.stringify(document);
  for (let renamed = true; renamed;) {
    renamed = false;
    const current = JSON.parse(text) as D;
    const schemas = current.components?.schemas ?? {};
    const used = reachable(current, schemas);
    for (const name of used) {
      const base = name.endsWith('Input') ? name.slice(0, -'Input'.length) : undefined;
      if (!base || !(base in schemas)) continue;
      if (used.has(base) && JSON.stringify(schemas[base]) !== JSON.stringify(schemas[name])) continue;
      schemas[base] = schemas[name];
      delete schemas[name];
      text = JSON.stringify(current).replaceAll(JSON.stringify(SCHEMA_REF + name), JSON.stringify(SCHEMA_REF + base));
      renamed = true;
      break;
    }
  }
  const result = JSON.parse(text) as D;
  const schemas = result.components?.schemas;
  if (schemas) {
    const used = reachable(result, schemas);
    for (const name of Object.keys(schemas)) if (!used.has(name)) delete schemas[name];
  }
  return result;
}
