// Render functions: data in, DOM out. No state, no fetching. Buttons carry data-action and what it
// acts on; app.js asks for confirmation and calls the admin API.
import { h, s, table } from './dom.js';
import { age, between, clock, json, seconds, short, since, time } from './format.js';

const taskLink = (id) => h('a', { href: `#/task/${id}`, class: 'id', title: id }, short(id));
const testLink = (id) => h('a', { href: `#/test/${id}`, class: 'id', title: id }, short(id));
const agentLink = (id, label) => (id ? h('a', { href: `#/agent/${id}`, class: 'id', title: id }, label ?? short(id)) : '–');
const state = (value) => h('span', { class: `state ${value}` }, value === 'claimed' ? 'in progress' : value);
/** A location as the CLI writes it too: FI/18. */
const where = (location) => (location ? [location.country, location.region].filter(Boolean).join('/') : null);
const action = (name, label, data, danger = false) =>
  h('button', { type: 'button', class: danger ? 'action danger' : 'action', 'data-action': name, ...data }, label);

/** Tasks that ended without a result: as FAILURE_EVENTS in shared/src/dispatch/states.ts (this page imports no TypeScript). */
const FAILURES = ['failed', 'ttl_expired', 'timed_out', 'agent_silent', 'drained', 'cancelled'];
const failures = (events) => FAILURES.reduce((sum, event) => sum + (events[event] ?? 0), 0);

/** Why a failed task failed, in a word (its `failure`); null for an agent's own error and unless failed. */
const FAILURE_WORDS = {
  agent_error: null,
  ttl_expired: 'expired',
  timed_out: 'timed out',
  agent_silent: 'agent lost',
  drained: 'drained',
  cancelled: 'cancelled',
};
const failureKind = (task) => (task.failure ? FAILURE_WORDS[task.failure] : null);

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
  const stranded = list.filter((q) => q.no_capable_agent && q.waiting > 0);
  return [
    stranded.length > 0 &&
      h(
        'p',
        { class: 'warning', role: 'alert' },
        `${stranded.length} queue${stranded.length === 1 ? '' : 's'} with waiting tasks and no active agent able to run them: `,
        stranded.map((q) => `${q.task_type} v${q.task_version}${q.location ? ` @${where(q.location)}` : ''}`).join(', '),
      ),
    table(
      ['queue', 'version', 'waiting', 'in progress', 'oldest waiting', 'capable agents', 'state', 'posted', 'completed', 'failed', ''],
      list.map((q) => {
        const name = `${q.task_type}${q.location ? ` @${where(q.location)}` : ''}`;
        const warn = q.no_capable_agent && q.waiting > 0;
        // The admin API acts on a type and version: on every location's queue of it at once.
        const located = list.some((other) => other.task_type === q.task_type && other.task_version === q.task_version && other.location);
        const target = {
          'data-type': q.task_type,
          'data-version': q.task_version,
          'data-name': `${q.task_type} v${q.task_version}${located ? ' (every location)' : ''}`,
        };
        return {
          class: warn ? 'warn' : undefined,
          'data-queue': `${q.task_type}/${q.task_version}${q.location ? `/${where(q.location)}` : ''}`,
          cells: [
            name,
            String(q.task_version),
            h('span', { class: 'bar', style: { '--fill': `${(100 * q.waiting) / busiest}%` } }, String(q.waiting)),
            String(q.in_progress),
            age(q.oldest_waiting_age),
            q.active_agents === null ? h('span', { title: 'Postgres cannot be reached' }, '?') : String(q.active_agents),
            [
              q.paused && h('span', { class: 'state paused' }, 'paused'),
              warn && h('span', { class: 'state failed', title: 'no active agent can run these tasks' }, 'no capable agent'),
            ],
            String(q.events.posted ?? 0),
            String(q.events.completed ?? 0),
            String(failures(q.events)),
            h(
              'span',
              { class: 'actions' },
              q.paused ? action('resume', 'Resume', target) : action('pause', 'Pause', target),
              q.waiting > 0 && action('drain', 'Drain', target, true),
            ),
          ],
        };
      }),
      'no task has been posted yet',
    ),
  ];
}

/** A line chart of one or more series over time: [{label, points: [[t, value|null]], class}]. */
function chart(id, title, unit, series, from, to) {
  const W = 640;
  const H = 160;
  const PAD = { left: 44, right: 8, top: 8, bottom: 20 };
  const values = series.flatMap((line) => line.points.map(([, v]) => v)).filter((v) => v !== null && Number.isFinite(v));
  const max = Math.max(values.length ? Math.max(...values) : 0, unit === 's' ? 0.01 : 1);
  const x = (t) => PAD.left + ((t - from) / Math.max(1, to - from)) * (W - PAD.left - PAD.right);
  const y = (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  const label = (v) => (unit === 's' ? seconds(v) : `${Number.isInteger(v) ? v : v.toFixed(2)}${unit}`);
  const path = (points) => {
    let d = '';
    let pen = false;
    for (const [t, v] of points) {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    return d;
  };
  const latest = (points) => [...points].reverse().find(([, v]) => v !== null)?.[1] ?? null;
  return h(
    'figure',
    { class: 'chart', 'data-chart': id },
    h('figcaption', {}, title),
    s(
      'svg',
      { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}, ${clock(from)} to ${clock(to)}` },
      s('line', { class: 'axis', x1: PAD.left, y1: H - PAD.bottom, x2: W - PAD.right, y2: H - PAD.bottom }),
      s('line', { class: 'grid', x1: PAD.left, y1: PAD.top, x2: W - PAD.right, y2: PAD.top }),
      s('text', { x: PAD.left - 4, y: PAD.top + 4, 'text-anchor': 'end' }, label(max)),
      s('text', { x: PAD.left - 4, y: H - PAD.bottom, 'text-anchor': 'end' }, '0'),
      s('text', { x: PAD.left, y: H - 4 }, clock(from)),
      s('text', { x: W - PAD.right, y: H - 4, 'text-anchor': 'end' }, clock(to)),
      series.map((line) => s('path', { class: `line ${line.class}`, d: path(line.points), 'data-points': line.points.length })),
    ),
    h(
      'ul',
      { class: 'legend' },
      series.map((line) => {
        const value = latest(line.points);
        return h('li', { class: line.class }, `${line.label}: `, h('strong', {}, value === null ? '–' : label(value)));
      }),
    ),
  );
}

/** Charts of the last hours, from GET /api/history (sampled by the worker every 10 s). */
export function history(data) {
  const from = Date.parse(data.from);
  const to = Date.parse(data.to);
  const totals = data.totals;
  const perSecond = (event) => totals.map((p) => [p.t, p.per_second[event] ?? null]);
  const latency = (route, key) => (data.latency[route] ?? []).map((slot) => [slot.t, slot[key]]);
  if (totals.length === 0) return h('p', { class: 'empty' }, 'no history yet: the worker samples the queues every 10 s');
  return h(
    'div',
    { class: 'charts' },
    chart(
      'depth',
      'Tasks waiting and in progress',
      '',
      [
        { label: 'waiting', class: 's1', points: totals.map((p) => [p.t, p.waiting]) },
        { label: 'in progress', class: 's2', points: totals.map((p) => [p.t, p.in_progress]) },
      ],
      from,
      to,
    ),
    chart(
      'throughput',
      'Throughput, tasks per second',
      '/s',
      [
        { label: 'posted', class: 's3', points: perSecond('posted') },
        { label: 'completed', class: 's1', points: perSecond('completed') },
        { label: 'failed', class: 's4', points: totals.map((p) => [p.t, sum(FAILURES.map((event) => p.per_second[event]))]) },
      ],
      from,
      to,
    ),
    chart(
      'latency',
      'Latency of POST /task and of polls (POST /tasks)',
      's',
      [
        { label: 'POST /task p50', class: 's1', points: latency('POST /task', 'p50') },
        { label: 'POST /task p99', class: 's4', points: latency('POST /task', 'p99') },
        { label: 'poll p99', class: 's3', points: latency('POST /tasks', 'p99') },
      ],
      from,
      to,
    ),
  );
}

const sum = (values) => (values.every((v) => v === null || v === undefined) ? null : values.reduce((a, v) => a + (v ?? 0), 0));

const TASK_COLUMNS = ['task', 'type', 'state', 'location', 'posted', 'waited', 'ran', 'agent', 'test run'];
const taskRow = (task) => [
  taskLink(task.task_id),
  `${task.task_type} v${task.task_version}`,
  [state(task.state), failureKind(task) && h('small', { class: 'kind' }, ` ${failureKind(task)}`)],
  where(task.task_location) ?? '–',
  h('span', { title: time(task.posted_at) }, since(task.posted_at)),
  between(task.posted_at, task.claimed_at) ?? '–',
  between(task.claimed_at, task.finished_at) ?? '–',
  agentLink(task.agent_id),
  testLink(task.test_id),
];

export function tasks(page, { onMore }) {
  return [
    table(TASK_COLUMNS, page.items.map(taskRow), 'no tasks'),
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
        where(agent.location) ?? '–',
        h('span', { title: time(agent.last_seen) }, since(agent.last_seen)),
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

/** The worker's side: results not yet in Postgres, its repeatable jobs, its processes. */
export function worker(info) {
  const r = info.results;
  return [
    h(
      'p',
      { class: 'counts', 'data-results': r.waiting },
      `Results queue: ${r.waiting} waiting to be written to Postgres, ${r.active} being written, ${r.delayed} to be retried, ${r.failed} given up`,
    ),
    table(
      ['job', 'every', 'state', 'last success', 'next run', 'status'],
      info.jobs.map((job) => ({
        class: job.state === 'failing' || job.state === 'stalled' ? 'warn' : undefined,
        cells: [
          job.job,
          job.every_ms === null ? 'off' : seconds(job.every_ms / 1000),
          h('span', { class: `state ${job.state === 'ok' ? 'completed' : job.state === 'unknown' ? 'waiting' : 'failed'}` }, job.state),
          time(job.last_success),
          time(job.next_run),
          job.status,
        ],
      })),
      'no jobs scheduled: is a worker running?',
    ),
    h(
      'p',
      { class: 'counts' },
      `Worker processes: ${info.workers.filter((w) => w.live).length} live`,
      info.workers.length > 0 && ` (${info.workers.map((w) => `${w.id}${w.live ? '' : ', gone'}`).join('; ')})`,
    ),
  ];
}

const fields = (rows) =>
  h(
    'dl',
    {},
    rows.flatMap(([term, value]) => [h('dt', {}, term), h('dd', {}, value ?? '–')]),
  );

/** Posted → claimed → finished, with the time between, as a bar and as a list. */
function timeline(task) {
  const end = task.finished_at ?? new Date().toISOString();
  const total = Math.max(1, Date.parse(end) - Date.parse(task.posted_at));
  const waited = (task.claimed_at ? Date.parse(task.claimed_at) : Date.parse(end)) - Date.parse(task.posted_at);
  const finished = task.task_completed ? 'completed' : task.task_failed ? 'failed' : null;
  return h(
    'section',
    { class: 'timeline', 'aria-label': 'timeline' },
    h(
      'div',
      { class: 'span' },
      h('span', { class: 'wait', style: { width: `${(100 * waited) / total}%` }, title: 'waiting for an agent' }),
      task.claimed_at &&
        h('span', { class: `run ${finished ?? 'claimed'}`, style: { width: `${100 - (100 * waited) / total}%` }, title: 'with its agent' }),
    ),
    h(
      'ol',
      {},
      h('li', { 'data-step': 'posted' }, h('strong', {}, 'posted'), ' ', time(task.posted_at)),
      h(
        'li',
        { 'data-step': 'claimed' },
        h('strong', {}, 'claimed'),
        ' ',
        task.claimed_at ? [time(task.claimed_at), ` — waited ${between(task.posted_at, task.claimed_at)}`] : 'not yet',
        task.agent_id && [' by ', agentLink(task.agent_id, task.agent_id)],
      ),
      h(
        'li',
        { 'data-step': 'finished' },
        h('strong', {}, finished ?? 'finished'),
        ' ',
        task.finished_at
          ? [time(task.finished_at), task.claimed_at ? ` — ran ${between(task.claimed_at, task.finished_at)}` : ' — never claimed']
          : 'not yet',
      ),
      task.stored_at
        ? h(
            'li',
            { 'data-step': 'stored' },
            h('strong', {}, 'stored'),
            ' ',
            time(task.stored_at),
            ` — in Postgres ${between(task.finished_at, task.stored_at)} after`,
          )
        : task.live_state === 'answered' && h('li', { 'data-step': 'stored' }, h('strong', {}, 'answered'), ' being written to Postgres'),
    ),
  );
}

export function taskDetail(task) {
  const target = { 'data-task': task.task_id };
  return [
    h('h2', {}, 'Task ', h('code', {}, task.task_id)),
    h(
      'p',
      { class: 'actions' },
      !task.finished_at && action('cancel', 'Cancel task', target, true),
      task.finished_at && action('retry', 'Retry as a new task', target),
    ),
    timeline(task),
    fields([
      [
        'state',
        [
          state(task.state),
          failureKind(task) && ` (${failureKind(task)})`,
          task.live_state && task.live_state !== 'done' ? ` (dispatch: ${task.live_state})` : '',
        ],
      ],
      ['type', `${task.task_type} v${task.task_version}`],
      ['test run', testLink(task.test_id)],
      ['location', where(task.task_location) ?? 'any'],
      ['ttl', task.task_ttl === undefined ? 'none' : `${task.task_ttl} s to be claimed`],
      ['timeout', task.task_timeout === undefined ? 'none' : `${task.task_timeout} s from claim to result`],
      [
        'attempts',
        task.task_retries === undefined ? String(task.task_attempts) : `${task.task_attempts} (retries allowed: ${task.task_retries})`,
      ],
    ]),
    h('h3', {}, 'Data'),
    h('pre', {}, json(task.task_data)),
    task.task_result !== undefined && [h('h3', {}, 'Result'), h('pre', { class: 'result' }, json(task.task_result))],
    task.task_error !== undefined && [h('h3', {}, 'Error'), h('pre', { class: 'error' }, task.task_error)],
  ];
}

/** A test run: its counts, how long it took, and each task on one time axis. */
export function testRun(run) {
  const summary = run.summary;
  const start = Math.min(...run.tasks.map((task) => Date.parse(task.posted_at)));
  const now = Date.now();
  const end = Math.max(start + 1, ...run.tasks.map((task) => (task.finished_at ? Date.parse(task.finished_at) : now)));
  const pct = (ms) => `${(100 * (ms - start)) / (end - start)}%`;
  const gantt = (task) => {
    const posted = Date.parse(task.posted_at);
    const claimed = task.claimed_at ? Date.parse(task.claimed_at) : null;
    const finished = task.finished_at ? Date.parse(task.finished_at) : now;
    return h(
      'div',
      { class: 'span gantt' },
      h('span', { class: 'offset', style: { width: pct(posted) } }),
      h('span', { class: 'wait', style: { width: `${(100 * ((claimed ?? finished) - posted)) / (end - start)}%` } }),
      claimed && h('span', { class: `run ${task.state}`, style: { width: `${(100 * (finished - claimed)) / (end - start)}%` } }),
    );
  };
  return [
    h('h2', {}, 'Test run ', h('code', {}, run.test_id)),
    h(
      'p',
      { class: 'counts' },
      `${summary.total} tasks: ${summary.waiting} waiting, ${summary.claimed} in progress, ${summary.completed} completed, ${summary.failed} failed`,
    ),
    fields([
      ['first posted', time(summary.first_posted)],
      ['all finished', summary.last_finished ? time(summary.last_finished) : 'not yet'],
      [
        'took',
        summary.last_finished
          ? between(summary.first_posted, summary.last_finished)
          : `${between(summary.first_posted, new Date().toISOString())} so far`,
      ],
    ]),
    h(
      'div',
      { class: 'scroll' },
      table(
        ['task', 'type', 'state', 'timeline', 'waited', 'ran', 'agent', 'outcome'],
        run.tasks.map((task) => [
          taskLink(task.task_id),
          `${task.task_type} v${task.task_version}`,
          [state(task.state), failureKind(task) && h('small', { class: 'kind' }, ` ${failureKind(task)}`)],
          gantt(task),
          between(task.posted_at, task.claimed_at) ?? '–',
          between(task.claimed_at, task.finished_at) ?? '–',
          agentLink(task.agent_id),
          task.task_error ?? (task.task_result ? JSON.stringify(task.task_result).slice(0, 80) : '–'),
        ]),
      ),
    ),
  ];
}

export function agentDetail(agent, recent) {
  return [
    h('h2', {}, 'Agent ', h('code', {}, agent.agent_id)),
    h('p', { class: 'actions' }, action('drop', 'Drop agent', { 'data-agent': agent.agent_id, 'data-name': agent.name }, true)),
    fields([
      ['name', agent.name],
      ['status', agent.active ? 'active' : 'inactive'],
      [
        'location',
        agent.location ? `${where(agent.location)} ${agent.location.latitude ?? ''} ${agent.location.longitude ?? ''}`.trim() : '–',
      ],
      ['first seen', time(agent.first_seen)],
      ['last seen', `${time(agent.last_seen)} (${since(agent.last_seen)})`],
      ['capabilities', agent.capabilities.map((c) => `${c.task_type} v${c.task_version}`).join(', ') || '–'],
      ['tasks', `${agent.tasks.assigned} assigned, ${agent.tasks.completed} completed, ${agent.tasks.failed} failed`],
      ['holds', agent.held.length ? agent.held.map((id) => [taskLink(id), ' ']) : 'nothing'],
    ]),
    h('h3', {}, 'Recent tasks'),
    h('div', { class: 'scroll', id: 'agent-tasks' }, table(TASK_COLUMNS, recent.items.map(taskRow), 'no task handed to this agent yet')),
  ];
}
