// The dashboard: routes (#/, #/task/ID, #/test/ID, #/agent/ID), live refresh every few seconds,
// filters, search, the operator's actions (each confirmed first) and the add-a-task form. Lists show
// one page at a time; nothing loads the whole fleet.
import { api, setToken, TokenError } from './api.js';
import { replace } from './dom.js';
import * as views from './views.js';

const REFRESH_MS = 2_000;
// The worker samples history every 10 s: reading it more often shows nothing new.
const HISTORY_MS = 10_000;
const PAGE = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const $ = (selector) => document.querySelector(selector);

const state = {
  taskFilter: { state: 'waiting' },
  agentFilter: 'true',
  historyHours: 1,
  historyAt: 0,
  // Cursors of the pages being shown (null: the first page, which refreshes live).
  taskCursor: null,
  agentCursor: null,
};

function showError(error) {
  const box = $('#error');
  box.hidden = !error;
  box.textContent = error ? String(error.message ?? error) : '';
}

/** What an action or a search did; it stays until the next one (refreshes leave it alone). */
function notice(text, kind = 'ok') {
  const box = $('#notice');
  box.hidden = !text;
  box.className = kind;
  box.textContent = text ?? '';
}

async function refreshHistory() {
  if (Date.now() - state.historyAt < HISTORY_MS) return;
  replace($('#history'), views.history(await api.history(state.historyHours)));
  state.historyAt = Date.now();
}

async function refreshOverview() {
  const [summary, queues, tasks, agents, worker] = await Promise.all([
    api.summary(),
    api.queues(),
    api.tasks({ ...state.taskFilter, limit: PAGE, cursor: state.taskCursor }),
    api.agents({ active: state.agentFilter, limit: PAGE, cursor: state.agentCursor }),
    api.worker(),
    refreshHistory(),
  ]);
  replace($('#summary'), views.summary(summary));
  replace($('#queues'), views.queues(queues));
  replace($('#tasks'), views.tasks(tasks, { onMore: () => page('taskCursor', tasks.next_cursor) }));
  replace($('#agents'), views.agents(agents, { onMore: () => page('agentCursor', agents.next_cursor) }));
  replace($('#worker'), views.worker(worker));
}

const DETAILS = {
  task: async (id) => views.taskDetail(await api.task(id)),
  test: async (id) => views.testRun(await api.testRun(id)),
  agent: async (id) => {
    const [agent, recent] = await Promise.all([api.agent(id), api.tasks({ agent_id: id, state: '', limit: 20 })]);
    return views.agentDetail(agent, recent);
  },
};

async function refreshDetail([kind, id]) {
  const render = Object.hasOwn(DETAILS, kind) ? DETAILS[kind] : undefined;
  if (!render) throw new Error(`nothing to show at #/${kind}`);
  const [detail, summary] = await Promise.all([render(id), api.summary()]);
  replace($('#detail'), detail);
  replace($('#summary'), views.summary(summary));
}

const currentRoute = () => location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);

let timer;
async function refresh() {
  clearTimeout(timer);
  const route = currentRoute();
  const onDetail = route.length === 2;
  $('#detail').hidden = !onDetail;
  $('#overview').hidden = onDetail;
  try {
    if (onDetail) await refreshDetail(route);
    else await refreshOverview();
    showError(null);
    $('#freshness').textContent = `updated ${new Date().toLocaleTimeString(undefined, { hour12: false, timeZoneName: 'short' })}`;
  } catch (error) {
    showError(error);
    $('#token').hidden = !(error instanceof TokenError);
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

function page(cursorKey, cursor) {
  state[cursorKey] = cursor;
  refresh();
}

function tabs(nav, onChoose) {
  nav.addEventListener('click', (event) => {
    const button = event.target.closest('button');
    if (!button) return;
    for (const other of nav.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
    onChoose(button.dataset);
    refresh();
  });
}

function filterTasks(event) {
  event.preventDefault();
  const form = event.target;
  const values = Object.fromEntries(new FormData(form));
  const problem = form.elements.namedItem('problem');
  const agent = values.agent_id.trim();
  const country = values.country.trim();
  if (agent && !UUID.test(agent)) return (problem.textContent = 'agent id must be a UUID');
  if (country && !/^[a-z]{2}$/i.test(country)) return (problem.textContent = 'country must be a two-letter code');
  problem.textContent = '';
  // "failed:drained": failed tasks that failed this way (a task's `failure`).
  const [taskState, failure] = values.state.split(':');
  state.taskFilter = {
    state: taskState,
    failure,
    type: values.type.trim(),
    agent_id: agent,
    country,
    posted_after: values.since ? new Date(Date.now() - Number(values.since) * 1000).toISOString() : '',
  };
  state.taskCursor = null;
  refresh();
}

/** Asks before an action; resolves to null when the operator backs out, else to the reason given. */
function confirmAction(message, { reason = false } = {}) {
  const dialog = $('#confirm');
  const form = dialog.querySelector('form');
  const input = form.elements.namedItem('reason');
  dialog.querySelector('.message').textContent = message;
  dialog.querySelector('.reason').hidden = !reason;
  input.required = reason;
  input.value = '';
  dialog.returnValue = '';
  dialog.showModal();
  (reason ? input : dialog.querySelector('button[value="confirm"]')).focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm' ? input.value.trim() : null), { once: true });
  });
}

const ACTIONS = {
  pause: {
    ask: (d) => `Pause ${d.name}? Agents get none of its tasks until it is resumed; posting still works.`,
    run: (d) => api.pause(d.type, d.version).then(() => `paused ${d.name}`),
  },
  resume: {
    ask: (d) => `Resume ${d.name}? Agents get its tasks again.`,
    run: (d) => api.resume(d.type, d.version).then(() => `resumed ${d.name}`),
  },
  drain: {
    reason: true,
    ask: (d) => `Drain ${d.name}? Every waiting task fails with the reason below as its task_error. Tasks held by agents are not touched.`,
    run: (d, reason) =>
      api
        .drain(d.type, Number(d.version), reason)
        .then((r) => `drained ${r.queues.reduce((n, q) => n + q.drained, 0)} task(s) of ${d.name}`),
  },
  cancel: {
    ask: (d) => `Cancel task ${d.task}? It fails with task_error "cancelled"; its agent's result will be refused.`,
    run: (d) => api.cancel(d.task).then(() => `cancelled task ${d.task}`),
  },
  retry: {
    ask: (d) => `Post task ${d.task} again as a new task of the same test run?`,
    run: async (d) => {
      const task = await api.retry(d.task, d.as);
      location.hash = `#/task/${task.task_id}`;
      return `retried as task ${task.task_id}`;
    },
  },
  drop: {
    ask: (d) => `Drop agent ${d.name} (${d.agent})? The tasks it holds fail as a silent agent's would; it registers again if it polls.`,
    run: (d) =>
      api.dropAgent(d.agent).then((r) => {
        location.hash = '#/';
        return `dropped agent ${d.name}; ${r.failed_tasks} task(s) it held failed`;
      }),
  },
};

async function act(event) {
  const button = event.target.closest('button[data-action]');
  if (!button) return;
  const spec = ACTIONS[button.dataset.action];
  // One id per click, so that a retry sent twice posts one task. (randomUUID exists only in a secure
  // context, HTTPS or localhost; elsewhere the replica chooses the id.)
  if (button.dataset.action === 'retry' && globalThis.crypto?.randomUUID) button.dataset.as ??= globalThis.crypto.randomUUID();
  const reason = await confirmAction(spec.ask(button.dataset), { reason: spec.reason });
  if (reason === null) return;
  try {
    notice(await spec.run(button.dataset, reason));
  } catch (error) {
    notice(error.message, 'bad');
  }
  refresh();
}

async function search(event) {
  event.preventDefault();
  const q = String(new FormData(event.target).get('q')).trim();
  if (!UUID.test(q)) return notice('enter a task id or a test id (a UUID)', 'bad');
  const found = await api.task(q).then(
    () => 'task',
    () =>
      api.testRun(q).then(
        () => 'test',
        () => null,
      ),
  );
  if (found) {
    notice(null);
    location.hash = `#/${found}/${q}`;
  } else notice(`no task and no test run with id ${q}`, 'bad');
}

async function addTask(event) {
  event.preventDefault();
  const form = event.target;
  const values = new FormData(form);
  const output = form.elements.namedItem('result');
  let data;
  try {
    data = JSON.parse(String(values.get('task_data') || '{}'));
  } catch {
    output.textContent = 'data must be JSON';
    return;
  }
  const testId = String(values.get('test_id')).trim();
  try {
    const task = await api.createTask({
      task_type: String(values.get('task_type')).trim(),
      task_version: Number(values.get('task_version')),
      task_data: data,
      ...(testId ? { test_id: testId } : {}),
    });
    const link = Object.assign(document.createElement('a'), { href: `#/task/${task.task_id}`, textContent: task.task_id });
    output.replaceChildren('added ', link);
    refresh();
  } catch (error) {
    output.textContent = error.message;
  }
}

$('#token').addEventListener('submit', (event) => {
  event.preventDefault();
  setToken(String(new FormData(event.target).get('token')));
  $('#token').hidden = true;
  state.historyAt = 0;
  refresh();
});
tabs($('#agent-filter'), ({ active }) => {
  state.agentFilter = active;
  state.agentCursor = null;
});
tabs($('#history-window'), ({ hours }) => {
  state.historyHours = Number(hours);
  state.historyAt = 0;
});
$('#task-filter').addEventListener('submit', filterTasks);
$('#task-filter').addEventListener('change', (event) => event.target.tagName === 'SELECT' && event.currentTarget.requestSubmit());
$('#search').addEventListener('submit', search);
$('#add-task').addEventListener('submit', addTask);
document.addEventListener('click', act);
window.addEventListener('hashchange', refresh);
refresh();
