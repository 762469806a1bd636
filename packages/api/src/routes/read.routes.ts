/** The read API under /api (issue 5): JSON, cursor pagination, filters as query parameters. */
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  AgentDetail,
  AgentListQuery,
  AgentPage,
  History,
  HistoryQuery,
  IdParams,
  NewTask,
  QueueInfo,
  Summary,
  TaskDetail,
  TaskListQuery,
  TaskPage,
  TestRun,
  WorkerInfo,
} from '@afm/shared/read-api';
import type { ApiDeps } from '../deps.js';
import { refuseCrossSite, requireRole } from '../http/auth.js';
import { createTask, readAgent, readAgents, readQueues, readSummary, readTaskDetail, readTasks, readTestRun } from '../domain/read.js';
import { readHistory, readWorker } from '../domain/history.js';
import { BODY_ERRORS, authResponses, errorResponses } from '../http/responses.js';

const tags = ['read API'];
/** Every route here needs an admin token. */
const auth = authResponses('admin');

export const readRoutes: FastifyPluginAsyncZod<{ deps: ApiDeps }> = async (app, { deps }) => {
  app.addHook('onRequest', refuseCrossSite);
  app.addHook('onRequest', requireRole(deps.tokens, 'admin'));

  app.get('/summary', {
    schema: {
      summary: 'Fleet at a glance: agents, waiting and running tasks, event counts',
      operationId: 'getSummary',
      tags,
      response: { 200: Summary, ...errorResponses(500, 503), ...auth },
    },
    handler: async () => readSummary(deps),
  });

  app.get('/tasks', {
    schema: {
      summary: 'Tasks, newest first, filtered by state, type, version, test run or agent',
      operationId: 'listTasks',
      tags,
      querystring: TaskListQuery,
      response: { 200: TaskPage, ...errorResponses(400, 500, 503), ...auth },
    },
    handler: async (request) => readTasks(deps, request.query),
  });

  app.post('/tasks', {
    schema: {
      summary: 'Create a task like POST /task; task_id and test_id are generated when absent',
      operationId: 'createTask',
      tags: ['admin'],
      body: NewTask,
      response: { 201: TaskDetail, ...errorResponses(...BODY_ERRORS), ...auth },
    },
    handler: async (request, reply) => reply.code(201).send(await createTask(deps, request.body)),
  });

  app.get('/tasks/:task_id', {
    schema: {
      summary: 'Everything known about a task: data, result or error, times of post, claim and finish, agent',
      operationId: 'getTaskDetail',
      tags,
      params: IdParams.task,
      response: { 200: TaskDetail, ...errorResponses(400, 404, 500, 503), ...auth },
    },
    handler: async (request) => readTaskDetail(deps, request.params.task_id),
  });

  app.get('/tests/:test_id', {
    schema: {
      summary: 'All tasks of one test run, with a summary',
      operationId: 'getTestRun',
      tags,
      params: IdParams.test,
      response: { 200: TestRun, ...errorResponses(400, 404, 500, 503), ...auth },
    },
    handler: async (request) => readTestRun(deps, request.params.test_id),
  });

  app.get('/agents', {
    schema: {
      summary: 'Agents, most recently seen first, with active flag, capabilities, location and task counts',
      operationId: 'listAgents',
      tags,
      querystring: AgentListQuery,
      response: { 200: AgentPage, ...errorResponses(400, 500, 503), ...auth },
    },
    handler: async (request) => readAgents(deps, request.query),
  });

  app.get('/agents/:agent_id', {
    schema: {
      summary: 'One agent, and the tasks it holds',
      operationId: 'getAgent',
      tags,
      params: IdParams.agent,
      response: { 200: AgentDetail.extend({ held: z.array(z.string()) }), ...errorResponses(400, 404, 500, 503), ...auth },
    },
    handler: async (request) => readAgent(deps, request.params.agent_id),
  });

  app.get('/queues', {
    schema: {
      summary: 'Per task type and version: waiting, in progress, oldest waiting age',
      operationId: 'listQueues',
      tags,
      response: { 200: z.array(QueueInfo), ...errorResponses(500, 503), ...auth },
    },
    handler: async () => readQueues(deps),
  });

  app.get('/history', {
    schema: {
      summary: 'The last hours of every queue (waiting, in progress, events per second) and of request latency (p50, p99), for charts',
      operationId: 'getHistory',
      tags,
      querystring: HistoryQuery,
      response: { 200: History, ...errorResponses(400, 500, 503), ...auth },
    },
    handler: async (request) => readHistory(deps, request.query.hours, request.query.type),
  });

  app.get('/worker', {
    schema: {
      summary: "The worker's side: results waiting to be written to Postgres, its repeatable jobs (schedule, last outcome), its processes",
      operationId: 'getWorker',
      tags,
      response: { 200: WorkerInfo, ...errorResponses(500, 503), ...auth },
    },
    handler: async () => readWorker(deps),
  });
};
