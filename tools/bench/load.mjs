// HTTP load for the benchmark: keep-alive connection pools per replica (undici), round-robin across
// replicas like a balancer, and latency recording per route.
import { randomUUID } from 'node:crypto';
import { Pool } from 'undici';

export class Latencies {
  #samples = new Map();

  record(route, ms) {
    let list = this.#samples.get(route);
    if (!list) this.#samples.set(route, (list = []));
    list.push(ms);
  }

  routes() {
    return [...this.#samples.keys()];
  }

  summary(route) {
    const list = [...(this.#samples.get(route) ?? [])].sort((a, b) => a - b);
    const at = (q) => (list.length ? list[Math.min(list.length - 1, Math.floor(q * list.length))] : null);
    return { n: list.length, p50: at(0.5), p99: at(0.99), max: list.length ? list[list.length - 1] : null };
  }
}

/** A client over several replicas; every call is recorded under its route name. */
export function client(urls, { connections = 64, latencies = new Latencies() } = {}) {
  const pools = urls.map((url) => new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 30_000 }));
  let next = 0;
  async function call(route, method, path, body) {
    const pool = pools[next++ % pools.length];
    const started = performance.now();
    const response = await pool.request({
      method,
      path,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.body.text();
    latencies.record(route, performance.now() - started);
    // A server's error page need not be JSON (the original answers a 500 in HTML).
    let parsed = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {}
    return { status: response.statusCode, body: parsed };
  }
  return {
    latencies,
    call,
    postTask: (task) => call('POST /task', 'POST', '/task', task),
    getTask: (id) => call('GET /task/:id', 'GET', `/task/${id}`),
    poll: (agent, types, maxTasks, wait) =>
      call(wait === undefined ? 'POST /tasks' : 'POST /tasks?wait', 'POST', wait === undefined ? '/tasks' : `/tasks?wait=${wait}`, {
        protocol: 1,
        agent_id: agent.id,
        agent_name: agent.name,
        agent_time: new Date().toISOString(),
        agent_capabilities: Object.fromEntries(types.map((type) => [type, { version: 1 }])),
        max_tasks: maxTasks,
      }),
    respond: (taskId, data) => call('POST /tasks/response', 'POST', '/tasks/response', { protocol: 1, task_id: taskId, task_data: data }),
    close: () => Promise.all(pools.map((pool) => pool.close())),
  };
}

export const newAgent = (prefix = 'bench') => {
  const id = randomUUID();
  return { id, name: `${prefix}-${id.slice(0, 8)}` };
};

export const newTask = (type, n) => ({ task_id: randomUUID(), test_id: randomUUID(), task_type: type, task_version: 1, task_data: { n } });

/** Runs `worker` over `items` with at most `concurrency` at once. */
export async function pool(items, concurrency, worker) {
  let index = 0;
  const runners = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (index < items.length) {
      const item = items[index++];
      await worker(item);
    }
  });
  await Promise.all(runners);
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
