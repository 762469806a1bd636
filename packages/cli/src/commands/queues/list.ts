import { Command } from 'clipanion';
import { FAILURE_EVENTS } from '@afm/shared/dispatch/states';
import { age, AdminCommand, REDIS_ONLY, table, where } from '../admin-command.js';

/** Tasks that ended without a result, whatever ended them. */
const failures = (events: Record<string, number>) => FAILURE_EVENTS.reduce((sum, event) => sum + (events[event] ?? 0), 0);

export class QueuesListCommand extends AdminCommand {
  static override paths = [['queues'], ['queues', 'list']];
  static override usage = Command.Usage({
    category: 'Queues',
    description: 'Show every task queue: waiting, in progress, oldest waiting age, paused, active agents able to take its tasks',
    details:
      'Works with Redis alone: while Postgres cannot be reached, active agents are shown as unknown (`-`, null in JSON). A warning on stderr names each queue whose tasks wait with no active agent able to run them.',
    examples: [
      ['As a table', '$0 queues'],
      ['For scripts', '$0 queues --json'],
    ],
  });

  async run() {
    const queues = await this.withFleet((fleet) => fleet.queues(), REDIS_ONLY);
    this.print(queues, () =>
      queues.length === 0
        ? 'no task queues yet\n'
        : table(
            ['TYPE', 'VERSION', 'LOCATION', 'WAITING', 'IN PROGRESS', 'OLDEST', 'PAUSED', 'POSTED', 'COMPLETED', 'FAILED', 'AGENTS'],
            queues.map((q) => [
              q.task_type,
              q.task_version,
              q.location ? [q.location.country, q.location.region].filter(Boolean).join('/') : null,
              q.waiting,
              q.in_progress,
              age(q.oldest_waiting_age),
              q.paused ? 'yes' : 'no',
              q.events.posted,
              q.events.completed,
              failures(q.events),
              q.active_agents,
            ]),
          ),
    );
    for (const q of queues) {
      if (q.no_capable_agent && q.waiting > 0)
        this.context.stderr.write(`warning: ${q.waiting} task(s) of ${where(q)} wait with no active agent able to run them\n`);
    }
    if (queues.some((q) => q.active_agents === null))
      this.context.stderr.write('warning: Postgres cannot be reached: active agents unknown\n');
  }
}
