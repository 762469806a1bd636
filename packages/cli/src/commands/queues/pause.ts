import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { AdminCommand, REDIS_ONLY, where } from '../admin-command.js';

const version = () =>
  Option.String('--version', { description: 'Only this task version (default: every version)', validator: t.isNumber() });

export class QueuesPauseCommand extends AdminCommand {
  static override paths = [['queues', 'pause']];
  static override usage = Command.Usage({
    category: 'Queues',
    description: 'Stop handing out tasks of a type; they keep waiting and can still be posted',
    examples: [['Pause every version of "http-get"', '$0 queues pause http-get']],
  });

  type = Option.String({ name: 'TYPE' });
  version = version();

  async run() {
    this.requireAdmin();
    const paused = await this.withFleet((fleet) => fleet.pause(this.type, this.version), REDIS_ONLY);
    this.print(paused, () => `paused ${paused.queues.map(where).join(', ')}\n`);
  }
}

export class QueuesResumeCommand extends AdminCommand {
  static override paths = [['queues', 'resume']];
  static override usage = Command.Usage({
    category: 'Queues',
    description: 'Hand out tasks of a paused type again',
    examples: [['Resume "http-get"', '$0 queues resume http-get']],
  });

  type = Option.String({ name: 'TYPE' });
  version = version();

  async run() {
    this.requireAdmin();
    const resumed = await this.withFleet((fleet) => fleet.resume(this.type, this.version), REDIS_ONLY);
    this.print(resumed, () => `resumed ${resumed.queues.map(where).join(', ')}\n`);
  }
}
