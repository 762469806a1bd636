/**
 * What the administration commands act on: the fleet, reached either directly (Redis and Postgres,
 * with the deployment's credentials) or through a replica's admin API (`--url` and an admin token, no
 * database credentials). Both answer with the admin API's shapes (read-api.ts, admin-api.ts), so
 * `--json` prints what `/api` returns, whichever way the command went.
 */
import { UsageError } from 'clipanion';
import type { z } from 'zod';
import { cancelTask } from '@afm/api/domain/cancel';
import { drain, drop, pause, resume, retry } from '@afm/api/domain/admin';
import { readAgent, readAgents, readQueues, readTaskDetail, readTasks } from '@afm/api/domain/read';
import type { DrainResult, DropAgentResult, QueueActionResult } from '@afm/shared/admin-api';
import type { Config } from '@afm/shared/config';
import { createTaskStore } from '@afm/shared/db/tasks';
import { createLogger } from '@afm/shared/logger';
import { AfmError, ERROR_CODES, type ErrorCode } from '@afm/shared/errors';
import { openOps, type OpenOpsOptions } from '@afm/shared/ops/deps';
import type { CancelResponse } from '@afm/shared/protocol';
import type { AgentDetail, AgentListQuery, AgentPage, QueueInfo, TaskDetail, TaskListQuery, TaskPage } from '@afm/shared/read-api';

type Out<T extends z.ZodType> = z.output<T>;

export interface Fleet {
  queues(): Promise<Out<typeof QueueInfo>[]>;
  pause(type: string, version?: number): Promise<Out<typeof QueueActionResult>>;
  resume(type: string, version?: number): Promise<Out<typeof QueueActionResult>>;
  drain(type: string, reason: string, version?: number): Promise<Out<typeof DrainResult>>;
  tasks(query: Out<typeof TaskListQuery>): Promise<Out<typeof TaskPage>>;
  task(id: string): Promise<TaskDetail>;
  cancel(id: string): Promise<Out<typeof CancelResponse>>;
  retry(id: string, newId?: string): Promise<TaskDetail & { retry_of: string }>;
  agents(query: Out<typeof AgentListQuery>): Promise<Out<typeof AgentPage>>;
  agent(id: string): Promise<Out<typeof AgentDetail> & { held: string[] }>;
  drop(id: string): Promise<Out<typeof DropAgentResult>>;
  close(): Promise<void>;
}

/** The fleet through Redis and Postgres, with the same domain functions the API's routes call. */
export async function directFleet(config: Config, options: OpenOpsOptions = {}): Promise<Fleet> {
  const ops = await openOps(config, options);
  // The domain functions log their actions at info for a replica's log; a command says it on stdout instead.
  const logger = createLogger({ ...config, LOG_LEVEL: 'warn' }, 'slamon-afm');
  const deps = { ...ops, config, tasks: createTaskStore(ops.db), logger };
  return {
    queues: () => readQueues(deps),
    pause: (type, version) => pause(deps, type, version),
    resume: (type, version) => resume(deps, type, version),
    drain: (type, reason, version) => drain(deps, type, reason, version),
    tasks: (query) => readTasks(deps, query),
    task: (id) => readTaskDetail(deps, id),
    cancel: (id) => cancelTask(deps, id),
    retry: (id, newId) => retry(deps, id, newId),
    agents: (query) => readAgents(deps, query),
    agent: (id) => readAgent(deps, id),
    drop: (id) => drop(deps, id),
    close: () => ops.close(),
  };
}

/** The fleet through a replica's admin API: `url` is the replica (or its load balancer). */
export function httpFleet(url: string, token: string | undefined, fetchImpl: typeof fetch = fetch): Fleet {
  const base = new URL(url.endsWith('/') ? url : `${url}/`);
  const call = async <T>(method: string, path: string, { query, body }: { query?: object; body?: object } = {}): Promise<T> => {
    const target = new URL(path.replace(/^\//, ''), base);
    for (const [key, value] of Object.entries(query ?? {}))
      if (value !== undefined) target.searchParams.set(key, value instanceof Date ? value.toISOString() : String(value));
    let response: Response;
    try {
      response = await fetchImpl(target, {
        method,
        headers: {
          accept: 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body ? { 'content-type': 'application/json' } : {}),
        },
        ...(body ? { body: JSON.stringify(body) } : {}),
        signal: AbortSignal.timeout(30_000),
      });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause?.message ?? (error as Error).message;
      throw new AfmError('AFM_ERR_UNAVAILABLE', `cannot reach AFM at ${base.origin}: ${cause}`);
    }
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      throw new AfmError(
        'AFM_ERR_UNAVAILABLE',
        `${base.origin} answered ${response.status} with something other than JSON; is --url an AFM?`,
      );
    }
    if (!response.ok) {
      const { code, message } = (parsed ?? {}) as { code?: string; message?: string };
      // A missing or wrong token is the command line's mistake, as it is without --url (exit code 2).
      if (response.status === 401 || response.status === 403)
        throw new UsageError(`${response.status} from AFM: ${message ?? text} (--token or $AFM_TOKEN)`);
      const known = code !== undefined && code in ERROR_CODES;
      throw new AfmError(known ? (code as ErrorCode) : 'AFM_ERR_INTERNAL', `${response.status} from AFM: ${message ?? text}`);
    }
    return parsed as T;
  };
  const queue = (type: string) => `/api/queues/${encodeURIComponent(type)}`;
  return {
    queues: () => call('GET', '/api/queues'),
    pause: (type, version) => call('POST', `${queue(type)}/pause`, { query: { version } }),
    resume: (type, version) => call('POST', `${queue(type)}/resume`, { query: { version } }),
    drain: (type, reason, version) =>
      call('POST', `${queue(type)}/drain`, { body: { reason, ...(version === undefined ? {} : { version }) } }),
    tasks: (query) => call('GET', '/api/tasks', { query }),
    task: (id) => call('GET', `/api/tasks/${id}`),
    cancel: (id) => call('POST', `/api/tasks/${id}/cancel`),
    retry: (id, newId) => call('POST', `/api/tasks/${id}/retry`, newId ? { body: { task_id: newId } } : {}),
    agents: (query) => call('GET', '/api/agents', { query }),
    agent: (id) => call('GET', `/api/agents/${id}`),
    drop: (id) => call('DELETE', `/api/agents/${id}`),
    close: async () => undefined,
  };
}
