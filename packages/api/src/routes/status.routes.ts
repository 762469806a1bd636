/** Health of the protocol (docs/protocol.md). */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { StatusResponse } from '@afm/shared/protocol';
import type { ApiDeps } from '../deps.js';
import { errorResponses } from '../http/responses.js';
import { getStatus } from '../domain/status.js';

export const statusRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.get('/status', {
    schema: {
      summary: 'Active agents and waiting tasks; 503 when Redis or Postgres is unreachable',
      operationId: 'getStatus',
      tags: ['protocol v1'],
      security: [],
      response: { 200: StatusResponse, ...errorResponses(400, 500, 503) },
    },
    handler: async () => getStatus(deps),
  });
};
