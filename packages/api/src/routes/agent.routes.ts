/** Routes of the agents (docs/protocol.md, §2.2): ask for tasks, post a result. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { EmptyBody, PollRequest, PollResponse, ResultPost, WaitQuery } from '@afm/shared/protocol';
import { hangUp } from '../http/hang-up.js';
import type { ApiDeps } from '../deps.js';
import { requireRole } from '../http/auth.js';
import { BODY_ERRORS, authResponses, errorResponses } from '../http/responses.js';
import { pollTasks } from '../domain/poll.js';
import { postResult } from '../domain/post-result.js';

export const agentRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireRole(deps.tokens, 'agent'));

  app.post('/tasks', {
    schema: {
      summary: 'Ask for tasks (agent); with ?wait=S, wait up to S seconds (≤ 30) for one to be posted',
      operationId: 'pollTasks',
      tags: ['protocol v1'],
      querystring: WaitQuery,
      body: PollRequest,
      response: { 200: PollResponse, ...errorResponses(...BODY_ERRORS, 429), ...authResponses('agent') },
    },
    handler: async (request, reply) =>
      pollTasks(deps, request.body, {
        ...(request.query.wait !== undefined ? { wait: request.query.wait } : {}),
        ...(request.credential?.agentId ? { boundAgent: request.credential.agentId } : {}),
        signal: hangUp(reply),
      }),
  });

  app.post('/tasks/response', {
    schema: {
      summary: "Post a task's result or error (agent)",
      operationId: 'postResult',
      tags: ['protocol v1'],
      body: ResultPost,
      response: { 200: EmptyBody, ...errorResponses(...BODY_ERRORS), ...authResponses('agent') },
    },
    handler: async (request, reply) => {
      await postResult(deps, request.body, request.credential?.agentId ? { boundAgent: request.credential.agentId } : {});
      return reply.code(200).send('');
    },
  });
};
