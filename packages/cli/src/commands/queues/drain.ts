import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { AdminCommand, REDIS_ONLY, where } from '../admin-command.js';

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
  reason = Option.String('--reason', { description: 'Required: task_error recorded for every drained task' });
  version = Option.String('--version', { description: 'Only this task version (default: every version)', validator: t.isNumber() });

  async run() {
    const reason = this.required(this.reason, '--reason');
    this.requireAdmin();
    const drained = await this.withFleet((fleet) => fleet.drain(this.type, reason, this.version), REDIS_ONLY);
    this.print(drained, () =>
      drained.queues.map((queue) => `drained ${queue.drained} task${queue.drained === 1 ? '' : 's'} from ${where(queue)}\n`).join(''),
    );
  }
}
