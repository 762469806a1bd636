/** A small protocol v1 client (the BPMS and agent sides) over real HTTP. */
import { randomUUID } from 'node:crypto';

export interface Reply<T = unknown> {
  status: number;
  body: T;
  text: string;
}

export async function call<T = any>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply<T>> {
  const response = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON: body stays undefined, text has it
  }
  return { status: response.status, body: parsed as T, text };
}

export const newTask = (type: string, data: Record<string, unknown> = {}) => ({
  task_id: randomUUID(),
  test_id: randomUUID(),
  task_type: type,
  task_version: 1,
  task_data: data,
});

export type PostedTask = ReturnType<typeof newTask>;

export const pollBody = (types: string[], maxTasks: number, agentId: string = randomUUID()) => ({
  protocol: 1,
  agent_id: agentId,
  agent_name: `agent-${agentId.slice(0, 8)}`,
  agent_time: new Date().toISOString(),
  agent_capabilities: Object.fromEntries(types.map((type) => [type, { version: 1 }])),
  max_tasks: maxTasks,
});

export interface Dispatched {
  task_id: string;
  task_type: string;
  task_version: number;
  task_data: Record<string, unknown>;
}

export async function poll(
  base: string,
  types: string[],
  maxTasks: number,
  agentId?: string,
  headers: Record<string, string> = {},
): Promise<Dispatched[]> {
  const reply = await call<{ tasks: Dispatched[] }>(base, 'POST', '/tasks', pollBody(types, maxTasks, agentId), headers);
  if (reply.status !== 200) throw new Error(`poll answered ${reply.status}: ${reply.text}`);
  return reply.body.tasks;
}
