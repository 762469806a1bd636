/** The `slamon-afm` command line (README, Command line). */
import { Builtins, Cli, type BaseContext } from 'clipanion';
import { AgentsListCommand } from './commands/agents/list.js';
import { AgentsDropCommand, AgentsShowCommand } from './commands/agents/show.js';
import { ConfigCommand } from './commands/config.js';
import { DropTablesCommand, MigrateCommand } from './commands/migrate.js';
import { QueuesDrainCommand } from './commands/queues/drain.js';
import { QueuesListCommand } from './commands/queues/list.js';
import { QueuesPauseCommand, QueuesResumeCommand } from './commands/queues/pause.js';
import { RunCommand, StartCommand, WorkerCommand } from './commands/serve.js';
import { TasksListCommand } from './commands/tasks/list.js';
import { TasksShowCommand } from './commands/tasks/show.js';

const COMMANDS = [
  RunCommand,
  WorkerCommand,
  StartCommand,
  MigrateCommand,
  DropTablesCommand,
  ConfigCommand,
  QueuesListCommand,
  QueuesPauseCommand,
  QueuesResumeCommand,
  QueuesDrainCommand,
  TasksShowCommand,
  TasksListCommand,
  AgentsListCommand,
  AgentsShowCommand,
  AgentsDropCommand,
];

export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: 'SLAMon Agent Fleet Manager', binaryName: 'slamon-afm', binaryVersion: '0.1.0' });
  for (const command of COMMANDS) cli.register(command);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

/** Runs one command line; returns the exit code (2 for a command line that does not parse). */
export async function runCli(argv: string[], context: Partial<BaseContext> = {}): Promise<number> {
  const cli = buildCli();
  const full = { ...Cli.defaultContext, ...context };
  if (!(full.stdout as NodeJS.WriteStream).isTTY) full.colorDepth = 1;
  // No command is a usage error (as with a command that does not parse), not a success: help goes to stderr.
  if (argv.length === 0) {
    full.stderr.write(cli.usage(null, { colored: false }));
    return 2;
  }
  let command;
  try {
    command = cli.process(argv, full);
  } catch (error) {
    full.stderr.write(cli.error(error as Error, { colored: false }));
    return 2;
  }
  return cli.run(command, full);
}
