import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { drainQueues } from '@afm/shared/ops/queues';
import { AdminCommand } from '../admin-command.js';

export class QueuesDrainCommand extends AdminCommand {
  static override paths = [['queues', 'drain']];
  static override usage = Command.Usage({
    category: 'Queues',
    description: 'Fail every waiting task of a type with a reason',
    details:
      "The reason becomes each task's `task_error`, which the BPMS sees on `GET /task/<id>`. Tasks already handed to agents are not touched.",
    examples: [['Give up on a retired check', '$0 queues drain http-get --reason "check retired"']],
  });

  type = Option.String({ name: 'TYPE' });
  reason = Option.String('--reason', { required: true, description: 'task_error recorded for every drained task' });
  version = Option.String('--version', { description: 'Only this task version (default: every version)', validator: t.isNumber() });

  async run() {
    this.requireAdmin();
    const drained = await this.withOps((ops) => drainQueues(ops, this.type, this.reason, this.version));
    this.print({ drained }, () =>
      Object.entries(drained)
        .map(([queue, count]) => `drained ${count} task${count === 1 ? '' : 's'} from ${queue}\n`)
        .join(''),
    );
  }
}
