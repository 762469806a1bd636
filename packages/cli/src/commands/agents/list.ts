import { Command, Option } from 'clipanion';
import * as t from 'typanion';
import { AdminCommand, table } from '../admin-command.js';

export class AgentsListCommand extends AdminCommand {
  static override paths = [['agents'], ['agents', 'list']];
  static override usage = Command.Usage({
    category: 'Agents',
    description: 'List agents with location, capabilities and task counts',
    examples: [['Only agents seen within AGENT_ACTIVE_THRESHOLD', '$0 agents list --active']],
  });

  active = Option.Boolean('--active', { description: 'Only active agents (--no-active: only inactive ones)' });
  limit = Option.String('--limit', '100', {
    description: 'Agents per page (1-500)',
    validator: t.cascade(t.isNumber(), [t.isInteger(), t.isInInclusiveRange(1, 500)]),
  });
  cursor = Option.String('--cursor', { description: 'Continue after a previous page (its next_cursor)' });

  async run() {
    const page = await this.withFleet((fleet) =>
      fleet.agents({
        ...(this.active === undefined ? {} : { active: this.active ? 'true' : 'false' }),
        limit: Number(this.limit),
        ...(this.cursor ? { cursor: this.cursor } : {}),
      }),
    );
    const agents = page.items;
    this.print(
      page,
      () =>
        (agents.length === 0
          ? 'no agents\n'
          : table(
              ['AGENT', 'NAME', 'ACTIVE', 'LOCATION', 'LAST SEEN', 'CAPABILITIES', 'ASSIGNED', 'COMPLETED', 'FAILED'],
              agents.map((agent) => [
                agent.agent_id,
                agent.name,
                agent.active ? 'yes' : 'no',
                agent.location ? [agent.location.country, agent.location.region].filter(Boolean).join('/') : null,
                agent.last_seen,
                agent.capabilities.map((c) => `${c.task_type} v${c.task_version}`).join(', ') || null,
                agent.tasks.assigned,
                agent.tasks.completed,
                agent.tasks.failed,
              ]),
            )) + (page.next_cursor ? `\nmore: --cursor ${page.next_cursor}\n` : ''),
    );
  }
}
