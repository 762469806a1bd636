import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { TASK_STATES, type TaskState } from '@afm/shared/db/schema';
import { listTasks } from '@afm/shared/ops/tasks';
import { isoUtc } from '@afm/shared/time';
import { AdminCommand, requireUuid, table } from '../admin-command.js';

export class TasksListCommand extends AdminCommand {
  static override paths = [['tasks'], ['tasks', 'list']];
  static override usage = Command.Usage({
    category: 'Tasks',
    description: 'List tasks, newest first, by test run, type or state',
    examples: [
      ['Waiting tasks of one type', '$0 tasks list --type http-get --state waiting'],
      ['All tasks of one test run', '$0 tasks list --test 0b7e2c1d-3f4a-4b5c-8d6e-7f8091a2b3c4'],
    ],
  });

  test = Option.String('--test', { description: 'Only tasks of this test run (test_id)' });
  type = Option.String('--type', { description: 'Only tasks of this type' });
  version = Option.String('--version', { description: 'Only tasks of this version', validator: t.isNumber() });
  state = Option.String('--state', { description: `Only tasks in this state: ${TASK_STATES.join('|')}` });
  agent = Option.String('--agent', { description: 'Only tasks handed to this agent' });
  limit = Option.String('--limit', '50', {
    description: 'Tasks per page (1-1000)',
    validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, 1000)]),
  });
  cursor = Option.String('--cursor', { description: 'Continue after a previous page (its next_cursor)' });

  async run() {
    if (this.state !== undefined && !TASK_STATES.includes(this.state as TaskState)) {
      throw new UsageError(`--state must be one of ${TASK_STATES.join('|')}`);
    }
    const filter = {
      ...(this.test ? { test_id: requireUuid(this.test, '--test') } : {}),
      ...(this.agent ? { agent_id: requireUuid(this.agent, '--agent') } : {}),
      ...(this.type !== undefined ? { type: this.type } : {}),
      ...(this.version !== undefined ? { version: this.version } : {}),
      ...(this.state !== undefined ? { state: this.state as TaskState } : {}),
    };
    const page = await this.withOps((ops) =>
      listTasks(ops, filter, { limit: Number(this.limit), ...(this.cursor ? { cursor: this.cursor } : {}) }),
    );
    this.print(page, () => {
      const rows = page.items.map((task) => [
        task.id,
        `${task.task_type} v${task.task_version}`,
        task.state,
        isoUtc(task.posted_at),
        task.agent_id,
        task.test_id,
      ]);
      return (
        (rows.length === 0 ? 'no tasks\n' : table(['TASK', 'TYPE', 'STATE', 'POSTED', 'AGENT', 'TEST'], rows)) +
        (page.next_cursor ? `\nmore: --cursor ${page.next_cursor}\n` : '')
      );
    });
  }
}
