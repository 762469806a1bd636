/**
 * The read API (issue 5): tasks, test runs, agents, queues and a summary, mapped from the fleet
 * operations to their wire shapes (read-api.ts); plus creating a task with generated ids.
 */
import { randomUUID } from 'node:crypto';
import type { Task } from '@afm/shared/db/schema';
import { listAgents, showAgent, type AgentSummary } from '@afm/shared/ops/agents';
import { listQueues, QUEUE_EVENTS } from '@afm/shared/ops/queues';
import { listTasks, showTask, testRun, type TaskFilter } from '@afm/shared/ops/tasks';
import type { z } from 'zod';
import type { AgentDetail, AgentListQuery, NewTask, Summary, TaskDetail, TaskListQuery, TestRun } from '@afm/shared/read-api';
import { isoUtc } from '@afm/shared/time';
import type { ApiDeps } from '../deps.js';
import { postTask } from './post-task.js';
import { toTaskView } from './read-task.js';
import { guard } from './storage.js';

type Deps = Pick<ApiDeps, 'db' | 'tasks' | 'dispatch' | 'config' | 'logger'>;

const time = (date: Date | null) => (date ? isoUtc(date) : null);

/** A task as every reader sees it: GET /task's view, with the operator's fields (read-api.ts TaskDetail). */
export function taskDetail(task: Task): Omit<TaskDetail, 'live_state'> {
  return {
    ...toTaskView(task),
    state: task.state,
    posted_at: isoUtc(task.posted_at),
    claimed_at: time(task.claimed_at),
    finished_at: time(task.finished_at),
    stored_at: time(task.stored_at),
    failure: task.state === 'failed' ? task.failure : null,
    agent_id: task.agent_id,
    task_attempts: task.attempts,
  };
}

function agentDetail(agent: AgentSummary): z.infer<typeof AgentDetail> {
  return {
    agent_id: agent.id,
    name: agent.name,
    active: agent.active,
    location: agent.country ? { country: agent.country, region: agent.region, latitude: agent.latitude, longitude: agent.longitude } : null,
    first_seen: isoUtc(agent.first_seen),
    last_seen: isoUtc(agent.last_seen),
    capabilities: agent.capabilities,
    tasks: agent.tasks,
  };
}

export async function readTasks(deps: Deps, query: z.output<typeof TaskListQuery>) {
  const { limit, cursor, ...rest } = query;
  const filter: TaskFilter = Object.fromEntries(Object.entries(rest).filter(([, value]) => value !== undefined));
  const page = await guard('Postgres', () => listTasks(deps, filter, { limit, ...(cursor ? { cursor } : {}) }));
  return { items: page.items.map(taskDetail), next_cursor: page.next_cursor };
}

export async function readTaskDetail(deps: Deps, taskId: string): Promise<TaskDetail> {
  const task = await guard('Postgres', () => showTask(deps, taskId));
  return { ...taskDetail(task), live_state: task.live_state };
}

export async function readTestRun(deps: Deps, testId: string): Promise<z.infer<typeof TestRun>> {
  const run = await guard('Postgres', () => testRun(deps, testId));
  return {
    test_id: testId,
    summary: { ...run.summary, first_posted: time(run.summary.first_posted), last_finished: time(run.summary.last_finished) },
    tasks: run.tasks.map(taskDetail),
  };
}

export async function readAgents(deps: Deps, query: z.output<typeof AgentListQuery>) {
  const filter = query.active === undefined ? {} : { active: query.active === 'true' };
  const page = await guard('Postgres', () =>
    listAgents(deps, filter, { limit: query.limit, ...(query.cursor ? { cursor: query.cursor } : {}) }),
  );
  return { items: page.items.map(agentDetail), next_cursor: page.next_cursor };
}

export async function readAgent(deps: Deps, agentId: string) {
  const agent = await guard('Postgres', () => showAgent(deps, agentId));
  return { ...agentDetail(agent), held: agent.held };
}

export async function readQueues(deps: Deps) {
  const queues = await guard('Redis', () => listQueues(deps));
  return queues.map(({ queue: _queue, ...info }) => info);
}

export async function readSummary(deps: Deps): Promise<z.infer<typeof Summary>> {
  // Queue states alone (Redis): the summary has no use for the agents per queue, which cost Postgres.
  const [states, active, known] = await Promise.all([
    guard('Redis', () => deps.dispatch.queueStates()),
    guard('Redis', () => deps.dispatch.countActiveAgents()),
    guard('Redis', () => deps.dispatch.countKnownAgents()),
  ]);
  const sum = (pick: (state: (typeof states)[number]) => number) => states.reduce((total, state) => total + pick(state), 0);
  return {
    agents: { active, known },
    tasks: { waiting: sum((q) => q.waiting), in_progress: sum((q) => q.inProgress) },
    events: Object.fromEntries(QUEUE_EVENTS.map((event) => [event, sum((q) => q.events[event])])),
  };
}

/** POST /api/tasks: a task like POST /task, with its ids generated when absent; returns it. */
export async function createTask(deps: Deps, input: z.output<typeof NewTask>): Promise<TaskDetail> {
  const task = { ...input, task_id: input.task_id ?? randomUUID(), test_id: input.test_id ?? randomUUID() };
  await postTask(deps, task);
  return readTaskDetail(deps, task.task_id);
}
