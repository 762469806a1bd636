import { Command, Option } from 'clipanion';
import { dropAgent, showAgent } from '@afm/shared/ops/agents';
import { isoUtc } from '@afm/shared/time';
import { AdminCommand, requireUuid, table } from '../admin-command.js';

export class AgentsShowCommand extends AdminCommand {
  static override paths = [['agents', 'show']];
  static override usage = Command.Usage({
    category: 'Agents',
    description: 'Show one agent, its capabilities and the tasks it holds',
  });

  id = Option.String({ name: 'ID' });

  async run() {
    const agent = await this.withOps((ops) => showAgent(ops, requireUuid(this.id, 'ID')));
    this.print(agent, () =>
      table(
        ['FIELD', 'VALUE'],
        [
          ['agent_id', agent.id],
          ['name', agent.name],
          ['active', agent.active ? 'yes' : 'no'],
          ['location', agent.country ? `${agent.country}/${agent.region} ${agent.latitude ?? ''} ${agent.longitude ?? ''}`.trim() : null],
          ['first seen', isoUtc(agent.first_seen)],
          ['last seen', isoUtc(agent.last_seen)],
          ['capabilities', agent.capabilities.map((c) => `${c.task_type} v${c.task_version}`).join(', ') || null],
          ['tasks', `${agent.tasks.assigned} assigned, ${agent.tasks.completed} completed, ${agent.tasks.failed} failed`],
          ['holds', agent.held.join(', ') || null],
        ],
      ),
    );
  }
}

export class AgentsDropCommand extends AdminCommand {
  static override paths = [['agents', 'drop']];
  static override usage = Command.Usage({
    category: 'Agents',
    description: "Forget an agent now; the tasks it holds fail as a silent agent's would",
    details: 'Its late results are refused. The agent registers again if it ever polls.',
  });

  id = Option.String({ name: 'ID' });

  async run() {
    this.requireAdmin();
    const dropped = await this.withOps((ops) => dropAgent(ops, requireUuid(this.id, 'ID')));
    this.print({ dropped: this.id, ...dropped }, () => `dropped agent ${this.id}; ${dropped.failedTasks} task(s) it held failed\n`);
  }
}
