import { Command, Option } from 'clipanion';
import type { TaskDetail } from '@afm/shared/read-api';
import { AdminCommand, requireUuid, table } from '../admin-command.js';

/** Seconds between two wire times, e.g. "3.2 s"; null when either is missing. */
const between = (from: string | null, to: string | null) =>
  from && to ? `${((Date.parse(to) - Date.parse(from)) / 1000).toFixed(1)} s` : null;

function describe(task: TaskDetail & { retry_of?: string }): string {
  const location = task.task_location ? [task.task_location.country, task.task_location.region].filter(Boolean).join('/') : null;
  return table(
    ['FIELD', 'VALUE'],
    [
      ['task_id', task.task_id],
      ...(task.retry_of ? [['retry of', task.retry_of]] : []),
      ['test_id', task.test_id],
      ['type', `${task.task_type} v${task.task_version}`],
      ['state', task.live_state && task.live_state !== 'done' ? `${task.state} (redis: ${task.live_state})` : task.state],
      ['location', location],
      ['ttl', task.task_ttl === undefined ? null : `${task.task_ttl} s`],
      ['timeout', task.task_timeout === undefined ? null : `${task.task_timeout} s`],
      ['attempts', task.task_retries === undefined ? task.task_attempts : `${task.task_attempts} (retries: ${task.task_retries})`],
      ['posted', task.posted_at],
      ['claimed', task.claimed_at],
      ['agent', task.agent_id],
      ['finished', task.finished_at],
      ['stored', task.stored_at],
      ['waited', between(task.posted_at, task.claimed_at)],
      ['ran', between(task.claimed_at, task.finished_at)],
      ['data', JSON.stringify(task.task_data)],
      ['result', task.task_result === undefined ? null : JSON.stringify(task.task_result)],
      ['error', task.task_error],
      ['failure', task.failure],
    ],
  );
}

export class TasksShowCommand extends AdminCommand {
  static override paths = [['tasks', 'show']];
  static override usage = Command.Usage({
    category: 'Tasks',
    description: 'Show everything known about one task',
    details: "`--json` prints what `GET /api/tasks/<id>` returns: the fields of `GET /task/<id>`, and the operator's.",
    examples: [['Show a task', '$0 tasks show 6f1f9a4e-2b9c-4d3e-8f7a-1b2c3d4e5f60']],
  });

  id = Option.String({ name: 'ID' });

  async run() {
    const task = await this.withFleet((fleet) => fleet.task(requireUuid(this.id, 'ID')));
    this.print(task, () => describe(task));
  }
}

export class TasksCancelCommand extends AdminCommand {
  static override paths = [['tasks', 'cancel']];
  static override usage = Command.Usage({
    category: 'Tasks',
    description: 'Cancel a waiting or claimed task: it fails with task_error "cancelled"',
    details: "The agent's later result is refused. A finished task stays as it is (exit code 1).",
  });

  id = Option.String({ name: 'ID' });

  async run() {
    this.requireAdmin();
    const cancelled = await this.withFleet((fleet) => fleet.cancel(requireUuid(this.id, 'ID')));
    this.print(cancelled, () => `cancelled task ${cancelled.task_id} at ${cancelled.task_failed}\n`);
  }
}

export class TasksRetryCommand extends AdminCommand {
  static override paths = [['tasks', 'retry']];
  static override usage = Command.Usage({
    category: 'Tasks',
    description: 'Post a finished task again, as a new task of the same test run',
    details:
      'The new task has the same type, version, data and options. Give `--as ID` to make the retry safe to repeat: a second run with the same id posts nothing new.',
  });

  id = Option.String({ name: 'ID' });
  as = Option.String('--as', { description: 'task_id of the new task (default: a new UUID)' });

  async run() {
    this.requireAdmin();
    const id = requireUuid(this.id, 'ID');
    const newId = this.as === undefined ? undefined : requireUuid(this.as, '--as');
    const task = await this.withFleet((fleet) => fleet.retry(id, newId));
    this.print(task, () => describe(task));
  }
}
