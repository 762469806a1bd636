// The dashboard's only door to AFM: the JSON read and admin API under /api.

export class ApiError extends Error {}
/** The API wants an admin token (authentication is on) or refused the one given. */
export class TokenError extends ApiError {}

const TOKEN_KEY = 'afm-admin-token';
export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);

async function request(method, path, body) {
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => null);
  if (response.status === 401 || response.status === 403) throw new TokenError(payload?.message ?? 'an admin token is needed');
  if (!response.ok) throw new ApiError(payload?.message ?? `${method} ${path} answered ${response.status}`);
  return payload;
}

const query = (params) => {
  const entries = Object.entries(params).filter(([, value]) => value !== undefined && value !== null && value !== '');
  return entries.length ? `?${new URLSearchParams(entries)}` : '';
};
const queue = (type) => `/api/queues/${encodeURIComponent(type)}`;
const id = (value) => encodeURIComponent(value);

export const api = {
  summary: () => request('GET', '/api/summary'),
  queues: () => request('GET', '/api/queues'),
  history: (hours) => request('GET', `/api/history${query({ hours })}`),
  worker: () => request('GET', '/api/worker'),
  tasks: (params) => request('GET', `/api/tasks${query(params)}`),
  task: (task) => request('GET', `/api/tasks/${id(task)}`),
  testRun: (test) => request('GET', `/api/tests/${id(test)}`),
  agents: (params) => request('GET', `/api/agents${query(params)}`),
  agent: (agent) => request('GET', `/api/agents/${id(agent)}`),
  createTask: (task) => request('POST', '/api/tasks', task),
  // The operator's actions (admin API).
  pause: (type, version) => request('POST', `${queue(type)}/pause${query({ version })}`),
  resume: (type, version) => request('POST', `${queue(type)}/resume${query({ version })}`),
  drain: (type, version, reason) => request('POST', `${queue(type)}/drain`, { reason, version }),
  cancel: (task) => request('POST', `/api/tasks/${id(task)}/cancel`),
  // The new task's id comes from here: a retry repeated after a lost answer posts nothing new.
  retry: (task, newId) => request('POST', `/api/tasks/${id(task)}/retry`, { task_id: newId }),
  dropAgent: (agent) => request('DELETE', `/api/agents/${id(agent)}`),
};
