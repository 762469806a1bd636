/** Routes of the BPMS (docs/protocol.md, §2.4): post a task, read it back. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { CancelResponse, EmptyBody, TaskIdParams, TaskPost, TaskView, WaitQuery } from '@afm/shared/protocol';
import { cancelTask } from '../domain/cancel.js';
import { hangUp } from '../http/hang-up.js';
import type { ApiDeps } from '../deps.js';
import { requireRole } from '../http/auth.js';
import { BODY_ERRORS, authResponses, errorResponses } from '../http/responses.js';
import { postTask } from '../domain/post-task.js';
import { readTask } from '../domain/read-task.js';

export const bpmsRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.addHook('onRequest', requireRole(deps.tokens, 'bpms'));

  app.post('/task', {
    schema: {
      summary: 'Post a task (BPMS)',
      operationId: 'postTask',
      tags: ['protocol v1'],
      body: TaskPost,
      response: { 200: EmptyBody, ...errorResponses(...BODY_ERRORS), ...authResponses('bpms') },
    },
    handler: async (request, reply) => {
      await postTask(deps, request.body);
      return reply.code(200).send('');
    },
  });

  app.get('/task/:task_id', {
    schema: {
      summary: 'Read a task and, once finished, its result or error (BPMS); with ?wait=S, answer as soon as it finishes (≤ 30 s)',
      operationId: 'getTask',
      tags: ['protocol v1'],
      params: TaskIdParams,
      querystring: WaitQuery,
      response: { 200: TaskView, ...errorResponses(400, 404, 500, 503), ...authResponses('bpms') },
    },
    handler: async (request, reply) =>
      readTask(deps, request.params.task_id, {
        ...(request.query.wait !== undefined ? { wait: request.query.wait } : {}),
        signal: hangUp(reply),
      }),
  });

  app.delete('/task/:task_id', {
    schema: {
      summary: 'Cancel a waiting or claimed task: it fails with task_error "cancelled"; 409 when it is finished already',
      operationId: 'cancelTask',
      tags: ['protocol v1'],
      params: TaskIdParams,
      response: { 200: CancelResponse, ...errorResponses(400, 404, 409, 500, 503), ...authResponses('bpms') },
    },
    handler: async (request) => cancelTask(deps, request.params.task_id),
  });
};
