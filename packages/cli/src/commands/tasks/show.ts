import { Command, Option } from 'clipanion';
import { showTask } from '@afm/shared/ops/tasks';
import { isoUtc } from '@afm/shared/time';
import { AdminCommand, requireUuid, table } from '../admin-command.js';

export class TasksShowCommand extends AdminCommand {
  static override paths = [['tasks', 'show']];
  static override usage = Command.Usage({
    category: 'Tasks',
    description: 'Show everything known about one task',
    examples: [['Show a task', '$0 tasks show 6f1f9a4e-2b9c-4d3e-8f7a-1b2c3d4e5f60']],
  });

  id = Option.String({ name: 'ID' });

  async run() {
    const task = await this.withOps((ops) => showTask(ops, requireUuid(this.id, 'ID')));
    const time = (date: Date | null) => (date ? isoUtc(date) : null);
    this.print(task, () =>
      table(
        ['FIELD', 'VALUE'],
        [
          ['task_id', task.id],
          ['test_id', task.test_id],
          ['type', `${task.task_type} v${task.task_version}`],
          ['state', task.live_state && task.live_state !== 'done' ? `${task.state} (redis: ${task.live_state})` : task.state],
          ['posted', time(task.posted_at)],
          ['claimed', time(task.claimed_at)],
          ['agent', task.agent_id],
          ['finished', time(task.finished_at)],
          ['data', JSON.stringify(task.task_data)],
          ['result', task.result === null ? null : JSON.stringify(task.result)],
          ['error', task.error],
        ],
      ),
    );
  }
}
