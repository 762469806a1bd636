/** Routes of the agents (SPEC §2.1, §2.2): ask for tasks, post a result. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { EmptyBody, PollRequest, PollResponse, ResultPost } from '@afm/shared/protocol';
import type { ApiDeps } from '../deps.js';
import { BODY_ERRORS, errorResponses } from '../http/responses.js';
import { pollTasks } from '../domain/poll.js';
import { postResult } from '../domain/post-result.js';

export const agentRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.post('/tasks', {
    schema: {
      summary: 'Ask for tasks (agent)',
      tags: ['protocol v1'],
      body: PollRequest,
      response: { 200: PollResponse, ...errorResponses(...BODY_ERRORS) },
    },
    handler: async (request) => pollTasks(deps, request.body),
  });

  app.post('/tasks/response', {
    schema: {
      summary: "Post a task's result or error (agent)",
      tags: ['protocol v1'],
      body: ResultPost,
      response: { 200: EmptyBody, ...errorResponses(...BODY_ERRORS) },
    },
    handler: async (request, reply) => {
      await postResult(deps, request.body);
      return reply.code(200).send('');
    },
  });
};
