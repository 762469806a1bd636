/**
 * Prometheus metrics, in two registries served apart so that summing over replicas never counts a
 * fleet figure once per replica:
 * - `registry` (GET /metrics), this replica's own: HTTP request durations and the post→claim and
 *   claim→result durations of the tasks it served (histograms; sum them over replicas), plus Node's
 *   process metrics;
 * - `fleetRegistry` (GET /metrics/fleet), read from Redis and Postgres at each scrape, the same from
 *   every replica: tasks waiting / in progress per type and version, oldest waiting age, agents active
 *   per capability, workers, the task event counters (kept in Redis by the dispatch scripts) and the
 *   health of the workers' maintenance jobs. Scrape it once (one target), not once per replica.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { jobState, type JobHealth } from '@afm/shared/dispatch/job-health';
import { QUEUE_EVENTS, type QueueSummary } from '@afm/shared/ops/queues';
import { WORKER_STALE_MS } from '@afm/shared/dispatch/workers';

/**
 * prom-client's totals of its per-type gauges: `_total` names a counter in Prometheus, and
 * `sum(afm_nodejs_active_handles)` (and so on) gives the same figure.
 */
const MISNAMED_DEFAULTS = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

/** Seconds: from milliseconds to an hour, for waits and runs alike. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

export interface FleetSnapshot {
  queues: QueueSummary[];
  agentsActive: number;
  workers: number;
  agentsPerCapability: { task_type: string; task_version: number; agents: number }[];
  jobs: JobHealth[];
  jobRuns: { job: string; outcome: 'ok' | 'failed'; runs: number }[];
}

export class ApiMetrics {
  /** This replica's own metrics. */
  readonly registry = new Registry();
  /** Fleet-wide metrics, the same from every replica (filled by setFleet). */
  readonly fleetRegistry = new Registry();
  private readonly http = new Histogram({
    name: 'afm_http_request_duration_seconds',
    help: 'HTTP request durations of this replica',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly claimWait = new Histogram({
    name: 'afm_task_claim_wait_seconds',
    help: 'Time from POST /task to the claim, for tasks this replica handed out',
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly runTime = new Histogram({
    name: 'afm_task_run_seconds',
    help: 'Time from the claim to the result, for results this replica accepted',
    buckets: DURATION_BUCKETS,
    registers: [this.registry],
  });
  private readonly queueLabels = ['task_type', 'task_version'] as const;
  private readonly waiting = this.gauge(
    'afm_tasks_waiting',
    'Tasks waiting for an agent (plain queues and location queues together)',
    this.queueLabels,
  );
  private readonly stranded = this.gauge(
    'afm_tasks_waiting_without_agent',
    'Tasks waiting in a queue no active agent can take them from (location: the task_location, empty for tasks bound to none)',
    ['task_type', 'task_version', 'location'],
  );
  private readonly inProgress = this.gauge('afm_tasks_in_progress', 'Tasks claimed by an agent, without a result yet', this.queueLabels);
  private readonly oldest = this.gauge(
    'afm_oldest_waiting_task_age_seconds',
    'Age of the oldest waiting task (0 when none waits)',
    this.queueLabels,
  );
  private readonly paused = this.gauge('afm_queue_paused', '1 when the queue is paused', this.queueLabels);
  private readonly agentsActive = this.gauge('afm_agents_active', 'Agents seen within AGENT_ACTIVE_THRESHOLD', []);
  private readonly workers = this.gauge('afm_workers', `Worker processes that sent a heartbeat within ${WORKER_STALE_MS / 1000} s`, []);
  private readonly agentsPerCapability = this.gauge(
    'afm_agents_active_per_capability',
    'Active agents able to run a task type and version',
    this.queueLabels,
  );
  private readonly events = Object.fromEntries(
    QUEUE_EVENTS.map((event) => [
      event,
      new Counter({
        name: `afm_tasks_${event}_total`,
        help: `Tasks ${event}, fleet-wide (the same from every replica)`,
        labelNames: this.queueLabels,
        registers: [this.fleetRegistry],
      }),
    ]),
  ) as Record<(typeof QUEUE_EVENTS)[number], Counter<'task_type' | 'task_version'>>;

  private readonly jobFailures = this.gauge(
    'afm_worker_job_failures',
    "Failed runs in a row of a worker's maintenance job (0: its last run succeeded)",
    ['job'],
  );
  private readonly jobStalled = this.gauge('afm_worker_job_stalled', '1 when a maintenance job has not run for several of its periods', [
    'job',
  ]);
  private readonly jobLastSuccess = this.gauge(
    'afm_worker_job_last_success_timestamp_seconds',
    'When a maintenance job last succeeded (Unix time)',
    ['job'],
  );
  private readonly jobRuns = new Counter({
    name: 'afm_worker_job_runs_total',
    help: 'Runs of the maintenance jobs by outcome, fleet-wide (the same from every replica)',
    labelNames: ['job', 'outcome'],
    registers: [this.fleetRegistry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'afm_' });
    for (const name of MISNAMED_DEFAULTS) this.registry.removeSingleMetric(`afm_${name}`);
  }

  /** A fleet-wide gauge. */
  private gauge<L extends string>(name: string, help: string, labelNames: readonly L[]) {
    return new Gauge<L>({ name, help, labelNames, registers: [this.fleetRegistry] });
  }

  observeRequest(method: string, route: string, statusCode: number, seconds: number): void {
    this.http.observe({ method, route, status_code: String(statusCode) }, seconds);
  }

  observeClaimWait(seconds: number): void {
    this.claimWait.observe(Math.max(0, seconds));
  }

  observeRun(seconds: number): void {
    this.runTime.observe(Math.max(0, seconds));
  }

  /** Replaces every fleet metric with a fresh snapshot, so queues and agents that are gone disappear. */
  setFleet(snapshot: FleetSnapshot): void {
    for (const metric of [this.waiting, this.inProgress, this.oldest, this.paused, this.agentsPerCapability, this.stranded]) metric.reset();
    for (const metric of [this.jobFailures, this.jobStalled, this.jobLastSuccess]) metric.reset();
    for (const counter of [...Object.values(this.events), this.jobRuns]) counter.reset();
    const oldest = new Map<string, number>();
    for (const queue of snapshot.queues) {
      const key = `${queue.task_type}\u0000${queue.task_version}`;
      oldest.set(key, Math.max(oldest.get(key) ?? 0, queue.oldest_waiting_age ?? 0));
    }
    for (const queue of snapshot.queues) {
      const labels = { task_type: queue.task_type, task_version: String(queue.task_version) };
      // A type's plain and location queues add up to one series per type and version.
      this.waiting.inc(labels, queue.waiting);
      this.inProgress.inc(labels, queue.in_progress);
      this.oldest.set(labels, oldest.get(`${queue.task_type}\u0000${queue.task_version}`)!);
      this.paused.set(labels, queue.paused ? 1 : 0);
      for (const event of QUEUE_EVENTS) this.events[event].inc(labels, queue.events[event]);
      if (queue.no_capable_agent && queue.waiting > 0) {
        const location = queue.location ? `${queue.location.country}${queue.location.region ? `-${queue.location.region}` : ''}` : '';
        this.stranded.set({ ...labels, location }, queue.waiting);
      }
    }
    this.agentsActive.set(snapshot.agentsActive);
    this.workers.set(snapshot.workers);
    for (const health of snapshot.jobs) {
      this.jobFailures.set({ job: health.job }, health.failures);
      this.jobStalled.set({ job: health.job }, jobState(health) === 'stalled' ? 1 : 0);
      if (health.lastOkAt !== null) this.jobLastSuccess.set({ job: health.job }, health.lastOkAt / 1000);
    }
    for (const { job, outcome, runs } of snapshot.jobRuns) this.jobRuns.inc({ job, outcome }, runs);
    for (const row of snapshot.agentsPerCapability) {
      this.agentsPerCapability.set({ task_type: row.task_type, task_version: String(row.task_version) }, row.agents);
    }
  }
}
