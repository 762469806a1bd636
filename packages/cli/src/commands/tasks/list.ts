import { Command, Option, UsageError } from 'clipanion';
import * as t from 'typanion';
import { TASK_STATES, type TaskState } from '@afm/shared/db/schema';
import { FAILURE_CAUSE_NAMES } from '@afm/shared/dispatch/states';
import { TaskListQuery } from '@afm/shared/read-api';
import { AdminCommand, requireUuid, table } from '../admin-command.js';

export class TasksListCommand extends AdminCommand {
  static override paths = [['tasks'], ['tasks', 'list']];
  static override usage = Command.Usage({
    category: 'Tasks',
    description: 'List tasks, newest first, by test run, type, state, agent, location or posting time',
    examples: [
      ['Waiting tasks of one type', '$0 tasks list --type http-get --state waiting'],
      ['All tasks of one test run', '$0 tasks list --test 0b7e2c1d-3f4a-4b5c-8d6e-7f8091a2b3c4'],
      ['Failed tasks bound to Finland since this morning', '$0 tasks list --state failed --country FI --since 2026-12-01T06:00:00Z'],
      ['Tasks an operator drained', '$0 tasks list --failure drained'],
    ],
  });

  test = Option.String('--test', { description: 'Only tasks of this test run (test_id)' });
  type = Option.String('--type', { description: 'Only tasks of this type' });
  version = Option.String('--version', { description: 'Only tasks of this version', validator: t.isNumber() });
  state = Option.String('--state', { description: `Only tasks in this state: ${TASK_STATES.join('|')}` });
  agent = Option.String('--agent', { description: 'Only tasks handed to this agent' });
  failure = Option.String('--failure', {
    description: `Only failed tasks that failed this way: ${FAILURE_CAUSE_NAMES.join('|')}`,
  });
  country = Option.String('--country', { description: 'Only tasks bound to this country by task_location, e.g. FI' });
  since = Option.String('--since', { description: 'Only tasks posted at or after this time (ISO 8601, e.g. 2026-12-01T06:00:00Z)' });
  until = Option.String('--until', { description: 'Only tasks posted before this time (ISO 8601)' });
  limit = Option.String('--limit', '50', {
    description: 'Tasks per page (1-500)',
    validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, 500)]),
  });
  cursor = Option.String('--cursor', { description: 'Continue after a previous page (its next_cursor)' });

  async run() {
    if (this.state !== undefined && !TASK_STATES.includes(this.state as TaskState)) {
      throw new UsageError(`--state must be one of ${TASK_STATES.join('|')}`);
    }
    // The API's own schema checks these, so both ways of running the command refuse the same input.
    const flags = { failure: '--failure', country: '--country', posted_after: '--since', posted_before: '--until' } as const;
    const extra = TaskListQuery.pick({ failure: true, country: true, posted_after: true, posted_before: true }).safeParse({
      failure: this.failure,
      country: this.country,
      posted_after: this.since,
      posted_before: this.until,
    });
    if (!extra.success) {
      const issue = extra.error.issues[0]!;
      throw new UsageError(`${flags[issue.path[0] as keyof typeof flags]} ${issue.message}`);
    }
    const filter = {
      ...Object.fromEntries(Object.entries(extra.data).filter(([, value]) => value !== undefined)),
      ...(this.test ? { test_id: requireUuid(this.test, '--test') } : {}),
      ...(this.agent ? { agent_id: requireUuid(this.agent, '--agent') } : {}),
      ...(this.type !== undefined ? { type: this.type } : {}),
      ...(this.version !== undefined ? { version: this.version } : {}),
      ...(this.state !== undefined ? { state: this.state as TaskState } : {}),
    };
    const page = await this.withFleet((fleet) =>
      fleet.tasks({ ...filter, limit: Number(this.limit), ...(this.cursor ? { cursor: this.cursor } : {}) }),
    );
    this.print(page, () => {
      const rows = page.items.map((task) => [
        task.task_id,
        `${task.task_type} v${task.task_version}`,
        task.failure ? `${task.state} (${task.failure})` : task.state,
        task.posted_at,
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
