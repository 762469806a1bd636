import { Command, Option } from 'clipanion';
import { AdminCommand, requireUuid, table } from '../admin-command.js';

export class AgentsShowCommand extends AdminCommand {
  static override paths = [['agents', 'show']];
  static override usage = Command.Usage({
    category: 'Agents',
    description: 'Show one agent, its capabilities and the tasks it holds',
  });

  id = Option.String({ name: 'ID' });

  async run() {
    const agent = await this.withFleet((fleet) => fleet.agent(requireUuid(this.id, 'ID')));
    this.print(agent, () =>
      table(
        ['FIELD', 'VALUE'],
        [
          ['agent_id', agent.agent_id],
          ['name', agent.name],
          ['active', agent.active ? 'yes' : 'no'],
          [
            'location',
            agent.location
              ? `${[agent.location.country, agent.location.region].filter(Boolean).join('/')} ${agent.location.latitude ?? ''} ${agent.location.longitude ?? ''}`.trim()
              : null,
          ],
          ['first seen', agent.first_seen],
          ['last seen', agent.last_seen],
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
    const dropped = await this.withFleet((fleet) => fleet.drop(requireUuid(this.id, 'ID')));
    this.print(dropped, () => `dropped agent ${dropped.agent_id}; ${dropped.failed_tasks} task(s) it held failed\n`);
  }
}
