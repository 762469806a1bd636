/** The `slamon-afm` command line (SPEC §6). */
import { Builtins, Cli, type BaseContext } from 'clipanion';
import { ConfigCommand } from './commands/config.js';
import { CreateTablesCommand, DropTablesCommand } from './commands/tables.js';
import { RunCommand, StartCommand, WorkerCommand } from './commands/serve.js';

export function buildCli(): Cli {
  const cli = new Cli({ binaryLabel: 'SLAMon Agent Fleet Manager', binaryName: 'slamon-afm', binaryVersion: '0.1.0' });
  for (const command of [RunCommand, WorkerCommand, StartCommand, CreateTablesCommand, DropTablesCommand, ConfigCommand]) {
    cli.register(command);
  }
  cli.register(Builtins.HelpCommand);
  cli.register(Builtins.VersionCommand);
  return cli;
}

/** Runs one command line; returns the exit code (2 for a command line that does not parse). */
export async function runCli(argv: string[], context: Partial<BaseContext> = {}): Promise<number> {
  const cli = buildCli();
  const full = { ...Cli.defaultContext, ...context };
  let command;
  try {
    command = cli.process(argv, full);
  } catch (error) {
    full.stderr.write(cli.error(error as Error, { colored: false }));
    return 2;
  }
  return cli.run(command, full);
}
