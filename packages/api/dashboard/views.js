// Render functions: data in, DOM out. No state, no fetching.
import { h, table } from './dom.js';
import { age, json, short, since, time } from './format.js';

const taskLink = (id) => h('a', { href: `#/task/${id}`, class: 'id', title: id }, short(id));
const testLink = (id) => h('a', { href: `#/test/${id}`, class: 'id', title: id }, short(id));
const agentLink = (id, label) => (id ? h('a', { href: `#/agent/${id}`, class: 'id', title: id }, label ?? short(id)) : '–');
const state = (value) => h('span', { class: `state ${value}` }, value === 'claimed' ? 'in progress' : value);

/** Tasks that ended without a result: an agent's error, or AFM's (expiry, timeout, silence, drain, cancel). */
const failures = (events) =>
  ['failed', 'ttl_expired', 'timed_out', 'agent_silent', 'drained', 'cancelled'].reduce((sum, event) => sum + (events[event] ?? 0), 0);

export function summary(data) {
  const card = (label, value, note) =>
    h('div', { class: 'card' }, h('strong', { 'data-metric': label }, value), h('span', {}, label), note && h('small', {}, note));
  return [
    card('agents active', data.agents.active, `${data.agents.known} known`),
    card('tasks waiting', data.tasks.waiting),
    card('tasks in progress', data.tasks.in_progress),
    card('completed', data.events.completed ?? 0, 'since Redis started counting'),
    card('failed', failures(data.events), `${data.events.agent_silent ?? 0} by silent agents`),
  ];
}

export function queues(list) {
  const busiest = Math.max(1, ...list.map((q) => q.waiting));
  return table(
    ['type', 'version', 'waiting', 'in progress', 'oldest waiting', 'paused', 'posted', 'completed', 'failed'],
    list.map((q) => [
      q.location
        ? h(
            'span',
            {},
            `${q.task_type} @${q.location.country}${q.location.region ? `-${q.location.region}` : ''}`,
            q.active_agents === 0 &&
              q.waiting > 0 &&
              h('span', { class: 'state failed', title: 'no active agent in this location can run these tasks' }, ' no agent there'),
          )
        : q.task_type,
      String(q.task_version),
      h('span', { class: 'bar', style: `--fill:${(100 * q.waiting) / busiest}%` }, String(q.waiting)),
      String(q.in_progress),
      age(q.oldest_waiting_age),
      q.paused ? 'paused' : '',
      String(q.events.posted ?? 0),
      String(q.events.completed ?? 0),
      String(failures(q.events)),
    ]),
    'no task has been posted yet',
  );
}

export function tasks(page, { onMore }) {
  return [
    table(
      ['task', 'type', 'state', 'posted', 'agent', 'test run'],
      page.items.map((task) => [
        taskLink(task.task_id),
        `${task.task_type} v${task.task_version}`,
        state(task.state),
        since(task.posted_at),
        agentLink(task.agent_id),
        testLink(task.test_id),
      ]),
      'no tasks',
    ),
    page.next_cursor && h('button', { class: 'more', onclick: onMore }, 'next page'),
  ];
}

export function agents(page, { onMore }) {
  return [
    table(
      ['agent', 'name', 'status', 'location', 'last seen', 'capabilities', 'assigned', 'completed', 'failed'],
      page.items.map((agent) => [
        agentLink(agent.agent_id),
        agent.name,
        h('span', { class: `state ${agent.active ? 'active' : 'inactive'}` }, agent.active ? 'active' : 'inactive'),
        agent.location ? `${agent.location.country} ${agent.location.region ?? ''}` : '–',
        since(agent.last_seen),
        agent.capabilities.map((c) => `${c.task_type} v${c.task_version}`).join(', ') || '–',
        String(agent.tasks.assigned),
        String(agent.tasks.completed),
        String(agent.tasks.failed),
      ]),
      'no agents',
    ),
    page.next_cursor && h('button', { class: 'more', onclick: onMore }, 'next page'),
  ];
}

const fields = (rows) =>
  h(
    'dl',
    {},
    rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '–')]),
  );

export function taskDetail(task) {
  return [
    h('h2', {}, 'Task ', h('code', {}, task.task_id)),
    fields([
      ['state', [state(task.state), task.live_state && task.live_state !== 'done' ? ` (dispatch: ${task.live_state})` : '']],
      ['type', `${task.task_type} v${task.task_version}`],
      ['test run', testLink(task.test_id)],
      ['posted', time(task.posted_at)],
      ['claimed', time(task.claimed_at)],
      ['agent', agentLink(task.agent_id, task.agent_id)],
      ['finished', time(task.finished_at)],
    ]),
    h('h3', {}, 'Data'),
    h('pre', {}, json(task.task_data)),
    task.result && [h('h3', {}, 'Result'), h('pre', { class: 'result' }, json(task.result))],
    task.error !== null && [h('h3', {}, 'Error'), h('pre', { class: 'error' }, task.error)],
  ];
}

export function testRun(run) {
  const s = run.summary;
  return [
    h('h2', {}, 'Test run ', h('code', {}, run.test_id)),
    h(
      'p',
      { class: 'counts' },
      `${s.total} tasks: ${s.waiting} waiting, ${s.claimed} in progress, ${s.completed} completed, ${s.failed} failed`,
    ),
    fields([
      ['first posted', time(s.first_posted)],
      ['all finished', s.last_finished ? time(s.last_finished) : 'not yet'],
    ]),
    table(
      ['task', 'type', 'state', 'posted', 'finished', 'agent', 'outcome'],
      run.tasks.map((task) => [
        taskLink(task.task_id),
        `${task.task_type} v${task.task_version}`,
        state(task.state),
        time(task.posted_at),
        time(task.finished_at),
        agentLink(task.agent_id),
        task.error ?? (task.result ? JSON.stringify(task.result).slice(0, 80) : '–'),
      ]),
    ),
  ];
}

export function agentDetail(agent) {
  return [
    h('h2', {}, 'Agent ', h('code', {}, agent.agent_id)),
    fields([
      ['name', agent.name],
      ['status', agent.active ? 'active' : 'inactive'],
      [
        'location',
        agent.location
          ? `${agent.location.country} ${agent.location.region ?? ''} ${agent.location.latitude ?? ''} ${agent.location.longitude ?? ''}`
          : '–',
      ],
      ['first seen', time(agent.first_seen)],
      ['last seen', `${time(agent.last_seen)} (${since(agent.last_seen)})`],
      ['capabilities', agent.capabilities.map((c) => `${c.task_type} v${c.task_version}`).join(', ') || '–'],
      ['tasks', `${agent.tasks.assigned} assigned, ${agent.tasks.completed} completed, ${agent.tasks.failed} failed`],
      ['holds', agent.held.length ? agent.held.map((id) => [taskLink(id), ' ']) : 'nothing'],
    ]),
  ];
}
