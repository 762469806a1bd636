/**
 * Load for fault tests: BPMS clients post tasks, agents (half of them long-polling) claim and answer
 * them through whichever replicas are given, and a ledger records what AFM accepted and delivered —
 * what `verifyLedger` later holds Postgres to. Clients behave like real ones: agents retry a result
 * until AFM answers it, and everyone backs off briefly after an error instead of spinning.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitFor } from '@afm/shared/testing/wait';

const BACKOFF_MS = 50;
const RESULT_RETRY_MS = 120_000;

type Reply = { status: number; body: unknown } | { error: string };

async function send(base: string, method: string, path: string, body?: unknown): Promise<Reply> {
  try {
    const response = await fetch(base + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // keep the text: a non-JSON answer is itself reported as unexpected by the caller
    }
    return { status: response.status, body: parsed };
  } catch (error) {
    const cause = (error as Error & { cause?: { code?: string } }).cause;
    return { error: cause?.code ?? (error as Error).message };
  }
}

export interface Ledger {
  /** Tasks AFM accepted (200): id → the number in their task_data. */
  tasks: Map<string, number>;
  /** Posts whose answer never came (the connection died): AFM may or may not hold them. */
  uncertainTasks: Set<string>;
  /** Every hand-out of a task to an agent: id → agent ids. */
  deliveries: Map<string, string[]>;
  /** Results AFM accepted (200): id → the result sent. */
  results: Map<string, { n: number; agent: string }>;
  /** Results refused (400) after an attempt whose answer was lost or a 503: they may have been accepted then. */
  uncertainResults: Map<string, { n: number; agent: string }>;
  /** Results refused (400) at the first answer: the task must have failed without them. */
  refusedResults: Map<string, { n: number; agent: string }>;
  /** Answers no client should ever see (a 500, a 4xx to a valid request, a non-JSON error…). */
  unexpected: string[];
  /** Answers per kind, e.g. `POST /task 503`, `poll ECONNREFUSED`. */
  counts: Record<string, number>;
  /** The first 503 message of each kind of request, e.g. `poll 503` → its `message`. */
  messages: Record<string, string>;
  /** When the first and the last failed answer (a 503, or none) came, ms since the epoch. */
  failed: { first: number | null; last: number | null };
}

export interface Load {
  ledger: Ledger;
  /** Resolves once at least `count` more results have been accepted (tests wait on progress, not time). */
  progress(count: number, timeoutMs?: number): Promise<void>;
  /**
   * Builds a backlog of `count` tasks for the agents to work through during an outage: the agents
   * hold their polls until `release()` (answers already under way go on).
   */
  backlog(count: number): Promise<{ release(): void }>;
  /**
   * Stops posting; agents go on until their polls come back empty and `drained()` holds (e.g. Postgres
   * shows no accepted task waiting: some reach the queues only through the worker's reconciler). Past
   * `timeoutMs` the agents give up and it rejects, saying so: a test fails with a reason, not by its timeout.
   */
  stop(drained?: (ledger: Ledger) => Promise<boolean>, timeoutMs?: number): Promise<Ledger>;
}

export interface LoadOptions {
  type: string;
  /** The replicas to spread requests over; read at every request, so a test can change it. */
  replicas: () => string[];
  posters?: number;
  agents?: number;
  maxTasks?: number;
}

export function startLoad({ type, replicas, posters = 2, agents = 4, maxTasks = 5 }: LoadOptions): Load {
  const ledger: Ledger = {
    tasks: new Map(),
    uncertainTasks: new Set(),
    deliveries: new Map(),
    results: new Map(),
    uncertainResults: new Map(),
    refusedResults: new Map(),
    unexpected: [],
    counts: {},
    messages: {},
    failed: { first: null, last: null },
  };
  let posting = true;
  let sequence = 0;
  let turn = 0;
  const pick = () => {
    const urls = replicas();
    return urls[turn++ % urls.length]!;
  };
  const count = (what: string, reply?: Reply) => {
    if (reply && 'body' in reply) ledger.messages[what] ??= String((reply.body as { message?: unknown })?.message ?? reply.body);
    ledger.counts[what] = (ledger.counts[what] ?? 0) + 1;
    ledger.failed.first ??= Date.now();
    ledger.failed.last = Date.now();
  };
  const unexpected = (what: string, reply: Reply) => ledger.unexpected.push(`${what} → ${JSON.stringify(reply).slice(0, 300)}`);

  let drained: (ledger: Ledger) => Promise<boolean> = async () => true;
  /** Set when `stop` gave up waiting: every agent and retried result ends. */
  let abandoned = false;
  let held: Promise<void> | undefined;

  /** Posts one task; false when it was not accepted. */
  async function postOne(): Promise<boolean> {
    const id = randomUUID();
    const n = sequence++;
    const reply = await send(pick(), 'POST', '/task', {
      task_id: id,
      test_id: randomUUID(),
      task_type: type,
      task_version: 1,
      task_data: { n },
    });
    if ('error' in reply) {
      // A refused connection never carried the request; any other error may have come after AFM took it.
      if (reply.error !== 'ECONNREFUSED') ledger.uncertainTasks.add(id);
      count(`POST /task ${reply.error}`);
    } else if (reply.status === 200) {
      ledger.tasks.set(id, n);
      return true;
    } else if (reply.status === 503) {
      // "Try again later" — but it may stand: Postgres may have stored it before the 503 (a replication
      // not confirmed in time, REDIS_ACK_REPLICAS); an identical repeat would be answered 200.
      ledger.uncertainTasks.add(id);
      count('POST /task 503', reply);
    } else {
      unexpected('POST /task', reply);
    }
    return false;
  }

  async function poster() {
    while (posting) if (!(await postOne())) await sleep(BACKOFF_MS);
  }

  async function answer(agentId: string, task: { task_id: string; task_data: { n: number } }) {
    const result = { n: task.task_data.n, agent: agentId };
    let lostAnswer = false;
    for (const deadline = Date.now() + RESULT_RETRY_MS; Date.now() < deadline && !abandoned; await sleep(BACKOFF_MS)) {
      const reply = await send(pick(), 'POST', '/tasks/response', { protocol: 1, task_id: task.task_id, task_data: result });
      if ('error' in reply) {
        lostAnswer ||= reply.error !== 'ECONNREFUSED';
        count(`result ${reply.error}`);
      } else if (reply.status === 503) {
        // Redis may have taken the answer and died before replying: "retry later", but it may stand.
        lostAnswer = true;
        count('result 503', reply);
      } else if (reply.status === 200) {
        ledger.results.set(task.task_id, result);
        return;
      } else if (reply.status === 400) {
        (lostAnswer ? ledger.uncertainResults : ledger.refusedResults).set(task.task_id, result);
        return;
      } else {
        return unexpected('POST /tasks/response', reply);
      }
    }
    ledger.unexpected.push(
      `result for ${task.task_id} not answered ${abandoned ? 'before the load gave up' : `within ${RESULT_RETRY_MS} ms`}`,
    );
  }

  async function agent(index: number) {
    const agentId = randomUUID();
    const longPoll = index % 2 === 0;
    const body = {
      protocol: 1,
      agent_id: agentId,
      agent_name: `fault-agent-${index}`,
      agent_time: new Date().toISOString(),
      agent_capabilities: { [type]: { version: 1 } },
      max_tasks: maxTasks,
    };
    // Once posting stops, an agent leaves after two empty polls in a row: its queues are empty.
    let empty = 0;
    while (!abandoned && (posting || empty < 2 || !(await drained(ledger)))) {
      await held;
      const reply = await send(pick(), 'POST', longPoll ? '/tasks?wait=1' : '/tasks', body);
      if ('error' in reply || reply.status !== 200) {
        if ('error' in reply) count(`poll ${reply.error}`);
        else if (reply.status === 503) count('poll 503', reply);
        else unexpected('POST /tasks', reply);
        await sleep(BACKOFF_MS);
        continue;
      }
      const tasks = (reply.body as { tasks: { task_id: string; task_data: { n: number } }[] }).tasks;
      empty = tasks.length === 0 ? empty + 1 : 0;
      if (tasks.length === 0 && !longPoll) await sleep(BACKOFF_MS);
      for (const task of tasks) ledger.deliveries.set(task.task_id, [...(ledger.deliveries.get(task.task_id) ?? []), agentId]);
      await Promise.all(tasks.map((task) => answer(agentId, task)));
    }
  }

  const running = [...Array.from({ length: posters }, () => poster()), ...Array.from({ length: agents }, (_, index) => agent(index))];
  return {
    ledger,
    async progress(more, timeoutMs = 30_000) {
      const target = ledger.results.size + more;
      await waitFor(() => ledger.results.size >= target, { timeoutMs, what: `${more} more accepted results` }).catch((error: Error) => {
        throw new Error(`${error.message}; answers other than 200 so far: ${JSON.stringify(ledger.counts)}`, { cause: error });
      });
    },
    async backlog(total) {
      let release!: () => void;
      held = new Promise((resolve) => (release = resolve));
      await Promise.all(
        Array.from({ length: 10 }, async (_, lane) => {
          for (let n = lane; n < total; n += 10) await postOne();
        }),
      );
      return {
        release() {
          held = undefined;
          release();
        },
      };
    },
    async stop(until, timeoutMs = 120_000) {
      if (until) drained = until;
      posting = false;
      const timer = setTimeout(() => (abandoned = true), timeoutMs);
      try {
        await Promise.all(running);
      } finally {
        clearTimeout(timer);
      }
      if (abandoned) {
        throw new Error(
          `the load did not drain within ${timeoutMs} ms (polls not yet empty twice, or the drained condition never held); ` +
            `answers other than 200: ${JSON.stringify(ledger.counts)}`,
        );
      }
      return ledger;
    },
  };
}
