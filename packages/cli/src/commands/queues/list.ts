import { Command } from 'clipanion';
import { listQueues } from '@afm/shared/ops/queues';
import { age, AdminCommand, table } from '../admin-command.js';

export class QueuesListCommand extends AdminCommand {
  static override paths = [['queues'], ['queues', 'list']];
  static override usage = Command.Usage({
    category: 'Queues',
    description: 'Show every task queue: waiting, in progress, oldest waiting age, paused',
    examples: [
      ['As a table', '$0 queues'],
      ['For scripts', '$0 queues --json'],
    ],
  });

  async run() {
    const queues = await this.withOps((ops) => listQueues(ops));
    this.print(queues, () =>
      queues.length === 0
        ? 'no task queues yet\n'
        : table(
            ['TYPE', 'VERSION', 'WAITING', 'IN PROGRESS', 'OLDEST', 'PAUSED', 'POSTED', 'COMPLETED', 'FAILED'],
            queues.map((q) => [
              q.task_type,
              q.task_version,
              q.waiting,
              q.in_progress,
              age(q.oldest_waiting_age),
              q.paused ? 'yes' : 'no',
              q.events.posted,
              q.events.completed,
              q.events.failed + q.events.ttl_expired + q.events.timed_out + q.events.agent_silent + q.events.drained + q.events.cancelled,
            ]),
          ),
    );
  }
}
