/** The admin API under /api (issue 15): every operator action, for the dashboard and `slamon-afm --url`. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import {
  DrainBody,
  DrainResult,
  DropAgentResult,
  QueueActionResult,
  QueueParams,
  QueueVersionQuery,
  RetryBody,
} from '@afm/shared/admin-api';
import { CancelResponse } from '@afm/shared/protocol';
import { IdParams, TaskDetail } from '@afm/shared/read-api';
import { z } from 'zod';
import type { ApiDeps } from '../deps.js';
import { drain, drop, pause, resume, retry } from '../domain/admin.js';
import { cancelTask } from '../domain/cancel.js';
import { refuseCrossSite, requireRole } from '../http/auth.js';
import { BODY_ERRORS, authResponses, errorResponses } from '../http/responses.js';

const tags = ['admin'];
/** Every route here needs an admin token. */
const auth = authResponses('admin');

export const adminRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.addHook('onRequest', refuseCrossSite);
  app.addHook('onRequest', requireRole(deps.tokens, 'admin'));

  app.post('/queues/:task_type/pause', {
    schema: {
      summary: 'Pause the queues of a task type: agents get none of its tasks; posting still works (Redis only)',
      operationId: 'pauseQueue',
      tags,
      params: QueueParams,
      querystring: QueueVersionQuery,
      response: { 200: QueueActionResult, ...errorResponses(400, 404, 500, 503), ...auth },
    },
    handler: async (request) => pause(deps, request.params.task_type, request.query.version),
  });

  app.post('/queues/:task_type/resume', {
    schema: {
      summary: 'Resume paused queues of a task type (Redis only)',
      operationId: 'resumeQueue',
      tags,
      params: QueueParams,
      querystring: QueueVersionQuery,
      response: { 200: QueueActionResult, ...errorResponses(400, 404, 500, 503), ...auth },
    },
    handler: async (request) => resume(deps, request.params.task_type, request.query.version),
  });

  app.post('/queues/:task_type/drain', {
    schema: {
      summary: 'Fail every waiting task of a type with a reason as its task_error; tasks held by agents are not touched (Redis only)',
      operationId: 'drainQueue',
      tags,
      params: QueueParams,
      body: DrainBody,
      response: { 200: DrainResult, ...errorResponses(...BODY_ERRORS, 404), ...auth },
    },
    handler: async (request) => drain(deps, request.params.task_type, request.body.reason, request.body.version),
  });

  app.post('/tasks/:task_id/cancel', {
    schema: {
      summary: 'Cancel a waiting or claimed task, as DELETE /task/<id> does; 409 when it is finished already',
      operationId: 'cancelTaskAsOperator',
      tags,
      params: IdParams.task,
      response: { 200: CancelResponse, ...errorResponses(400, 404, 409, 500, 503), ...auth },
    },
    handler: async (request) => cancelTask(deps, request.params.task_id),
  });

  app.post('/tasks/:task_id/retry', {
    schema: {
      summary: 'Post a finished task again as a new task of the same test run; 409 when it is not finished',
      operationId: 'retryTask',
      tags,
      params: IdParams.task,
      body: RetryBody,
      response: {
        201: TaskDetail.extend({ retry_of: z.string().describe('the retried task') }).meta({ id: 'RetriedTask' }),
        ...errorResponses(...BODY_ERRORS, 404, 409),
        ...auth,
      },
    },
    handler: async (request, reply) => reply.code(201).send(await retry(deps, request.params.task_id, request.body?.task_id)),
  });

  app.delete('/agents/:agent_id', {
    schema: {
      summary: "Drop an agent: the tasks it holds fail as a silent agent's would, and it is forgotten until it polls again",
      operationId: 'dropAgent',
      tags,
      params: IdParams.agent,
      response: { 200: DropAgentResult, ...errorResponses(400, 404, 500, 503), ...auth },
    },
    handler: async (request) => drop(deps, request.params.agent_id),
  });
};
