// The dashboard: routes (#/, #/task/ID, #/test/ID, #/agent/ID), live refresh every few seconds,
// search, and the add-a-task form. Lists show one page at a time; nothing loads the whole fleet.
import { api, setToken, TokenError } from './api.js';
import { replace } from './dom.js';
import * as views from './views.js';

const REFRESH_MS = 2_000;
const PAGE = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const $ = (selector) => document.querySelector(selector);

const state = {
  taskFilter: 'waiting',
  agentFilter: 'true',
  // Cursors of the pages being shown (null: the first page, which refreshes live).
  taskCursor: null,
  agentCursor: null,
};

function showError(error) {
  const box = $('#error');
  box.hidden = !error;
  box.textContent = error ? String(error.message ?? error) : '';
}

async function refreshOverview() {
  const [summary, queues, tasks, agents] = await Promise.all([
    api.summary(),
    api.queues(),
    api.tasks({ state: state.taskFilter, limit: PAGE, cursor: state.taskCursor }),
    api.agents({ active: state.agentFilter, limit: PAGE, cursor: state.agentCursor }),
  ]);
  replace($('#summary'), views.summary(summary));
  replace($('#queues'), views.queues(queues));
  replace($('#tasks'), views.tasks(tasks, { onMore: () => page('taskCursor', tasks.next_cursor) }));
  replace($('#agents'), views.agents(agents, { onMore: () => page('agentCursor', agents.next_cursor) }));
}

async function refreshDetail([kind, id]) {
  const load = { task: api.task, test: api.testRun, agent: api.agent }[kind];
  const render = { task: views.taskDetail, test: views.testRun, agent: views.agentDetail }[kind];
  if (!load) throw new Error(`nothing to show at #/${kind}`);
  const [detail, summary] = await Promise.all([load(id), api.summary()]);
  replace($('#detail'), render(detail));
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
    $('#freshness').textContent = `updated ${new Date().toLocaleTimeString(undefined, { hour12: false })}`;
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

function choose(nav, attribute, key, cursorKey) {
  nav.addEventListener('click', (event) => {
    const button = event.target.closest('button');
    if (!button) return;
    for (const other of nav.querySelectorAll('button')) other.setAttribute('aria-pressed', String(other === button));
    state[key] = button.dataset[attribute];
    state[cursorKey] = null;
    refresh();
  });
}

async function search(event) {
  event.preventDefault();
  const q = String(new FormData(event.target).get('q')).trim();
  if (!UUID.test(q)) return showError(new Error('enter a task id or a test id (a UUID)'));
  const found = await api.task(q).then(
    () => 'task',
    () =>
      api.testRun(q).then(
        () => 'test',
        () => null,
      ),
  );
  if (found) location.hash = `#/${found}/${q}`;
  else showError(new Error(`no task and no test run with id ${q}`));
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
  refresh();
});
choose($('#task-filter'), 'state', 'taskFilter', 'taskCursor');
choose($('#agent-filter'), 'active', 'agentFilter', 'agentCursor');
$('#search').addEventListener('submit', search);
$('#add-task').addEventListener('submit', addTask);
window.addEventListener('hashchange', refresh);
refresh();
