/** Routes of the BPMS (SPEC §2.3, §2.4): post a task, read it back. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { EmptyBody, TaskIdParams, TaskPost, TaskView } from '@afm/shared/protocol';
import type { ApiDeps } from '../deps.js';
import { BODY_ERRORS, errorResponses } from '../http/responses.js';
import { postTask } from '../domain/post-task.js';
import { readTask } from '../domain/read-task.js';

export const bpmsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.post('/task', {
    schema: {
      summary: 'Post a task (BPMS)',
      tags: ['protocol v1'],
      body: TaskPost,
      response: { 200: EmptyBody, ...errorResponses(...BODY_ERRORS) },
    },
    handler: async (request, reply) => {
      await postTask(deps, request.body);
      return reply.code(200).send('');
    },
  });

  app.get('/task/:task_id', {
    schema: {
      summary: 'Read a task and, once finished, its result or error (BPMS)',
      tags: ['protocol v1'],
      params: TaskIdParams,
      response: { 200: TaskView, ...errorResponses(400, 404, 500, 503) },
    },
    handler: async (request) => readTask(deps, request.params.task_id),
  });
};
