// The dashboard's only door to AFM: the JSON read API under /api.

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

export const api = {
  summary: () => request('GET', '/api/summary'),
  queues: () => request('GET', '/api/queues'),
  tasks: (params) => request('GET', `/api/tasks${query(params)}`),
  task: (id) => request('GET', `/api/tasks/${encodeURIComponent(id)}`),
  testRun: (id) => request('GET', `/api/tests/${encodeURIComponent(id)}`),
  agents: (params) => request('GET', `/api/agents${query(params)}`),
  agent: (id) => request('GET', `/api/agents/${encodeURIComponent(id)}`),
  createTask: (task) => request('POST', '/api/tasks', task),
};
