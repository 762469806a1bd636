/** The `slamon-afm` command line (README, Command line). */
import { Builtins, Cli, formatMarkdownish, type BaseContext } from 'clipanion';
import { AgentsListCommand } from './commands/agents/list.js';
import { AgentsDropCommand, AgentsShowCommand } from './commands/agents/show.js';
import { GLOBAL_FLAGS } from './commands/base.js';
import { ConfigCommand } from './commands/config.js';
import { DropTablesCommand, MigrateCommand } from './commands/migrate.js';
import { QueuesDrainCommand } from './commands/queues/drain.js';
import { QueuesListCommand } from './commands/queues/list.js';
import { QueuesPauseCommand, QueuesResumeCommand } from './commands/queues/pause.js';
import { RunCommand, StartCommand, WorkerCommand } from './commands/serve.js';
import { TasksListCommand } from './commands/tasks/list.js';
import { TasksCancelCommand, TasksRetryCommand, TasksShowCommand } from './commands/tasks/show.js';

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
  TasksCancelCommand,
  TasksRetryCommand,
  AgentsListCommand,
  AgentsShowCommand,
  AgentsDropCommand,
];

/** What an option's value is called in help: clipanion 3 writes `#0` for every one. */
const ARGUMENTS: Record<string, string> = {
  ...Object.fromEntries(Object.values(GLOBAL_FLAGS).map(({ names, arg }) => [names.split(',').at(-1)!, arg])),
  '--version': 'N',
  '--limit': 'N',
  '--test': 'ID',
  '--agent': 'ID',
  '--reason': 'TEXT',
};

const nameArguments = (text: string) =>
  text.replace(/((?:-[\w-]+,)*(--?[\w-]+)) #0/g, (_, definition: string, name: string) => {
    return `${definition} ${ARGUMENTS[name] ?? name.replace(/^-+/, '').toUpperCase()}`;
  });

/**
 * clipanion's Cli with named option values and the global flags listed once: in full in the
 * overview (`slamon-afm --help`), by name under each command's help.
 */
class AfmCli extends Cli {
  // Every usage line and option list of clipanion's help comes from here.
  protected override getUsageByIndex(index: number, opts?: { detailed?: boolean; inlineOptions?: boolean }) {
    const { usage, options } = super.getUsageByIndex(index, opts);
    return { usage: nameArguments(usage), options: options.map((option) => ({ ...option, definition: nameArguments(option.definition) })) };
  }

  override usage(...[command = null, opts = {}]: Parameters<Cli['usage']>): string {
    const text = super.usage(command, opts);
    const format = this.format(opts.colored);
    const flags = Object.values(GLOBAL_FLAGS).map(({ names, arg }) => ({ definition: `${names} ${arg}`, names }));
    if (command === null) {
      const width = Math.max(...flags.map(({ definition }) => definition.length));
      const lines = Object.values(GLOBAL_FLAGS).map(
        ({ description }, index) => `  ${format.bold(flags[index]!.definition.padEnd(width))}    ${description}\n`,
      );
      return `${text}\n${format.header('Global options')}\n\nEvery command takes these:\n\n${lines.join('')}`;
    }
    if (!opts.detailed) return text;
    const note = `Every command also takes ${flags.map(({ names }) => names).join(', ')}: see ${this.binaryName} --help.`;
    return `${text}\n${format.header('Global options')}\n\n${formatMarkdownish(note, { format, paragraphs: true })}`;
  }

  override error(...args: Parameters<Cli['error']>): string {
    return nameArguments(super.error(...args));
  }
}

export function buildCli(colors = false): Cli {
  const cli = new AfmCli({
    binaryLabel: 'SLAMon Agent Fleet Manager',
    binaryName: 'slamon-afm',
    binaryVersion: '0.1.0',
    enableColors: colors,
  });
  for (const command of COMMANDS) cli.register(command);
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

/**
 * Colour as is conventional: on with FORCE_COLOR (unless 0 or false), off with a non-empty
 * NO_COLOR, otherwise only on a terminal. clipanion's own default looks at neither the stream nor
 * NO_COLOR (it asks Node's tty prototype, not the stream), so help piped to a file kept its codes.
 */
export function colorsFor(stream: NodeJS.WritableStream, env: NodeJS.ProcessEnv): boolean {
  const force = env.FORCE_COLOR;
  if (force !== undefined) return !['0', 'false'].includes(force.trim().toLowerCase());
  if (env.NO_COLOR) return false;
  return (stream as NodeJS.WriteStream).isTTY === true && env.TERM !== 'dumb';
}

/** Runs one command line; returns the exit code (2 for a command line that does not parse). */
export async function runCli(argv: string[], context: Partial<BaseContext> = {}): Promise<number> {
  const full = { ...Cli.defaultContext, ...context };
  const colors = colorsFor(full.stdout, full.env);
  const cli = buildCli(colors);
  // No command is a usage error (as with a command that does not parse), not a success: help goes to stderr.
  if (argv.length === 0) {
    full.stderr.write(cli.usage(null, { colored: colorsFor(full.stderr, full.env) }));
    return 2;
  }
  let command;
  try {
    command = cli.process(argv, full);
  } catch (error) {
    full.stderr.write(cli.error(error as Error, { colored: colorsFor(full.stderr, full.env) }));
    return 2;
  }
  return cli.run(command, full);
}
