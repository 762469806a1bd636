/**
 * Base of the administration commands (queues, tasks, agents): `--json` for scripts, human tables otherwise, and one Redis +
 * Postgres connection for the command's run (a clear message when either cannot be reached).
 */
import { Option, UsageError } from 'clipanion';
import { Tokens } from '@afm/shared/auth';
import { openOps, type OpenedOps } from '@afm/shared/ops/deps';
import { Uuid } from '@afm/shared/protocol';
import { AfmCommand } from './base.js';

export abstract class AdminCommand extends AfmCommand {
  json = Option.Boolean('--json', false, { description: 'Print JSON for scripts instead of a table' });
  token = Option.String('--token', { description: 'Admin token, when ADMIN_TOKENS are configured (default: $AFM_TOKEN)' });

  /** Commands that change the fleet need an admin token once ADMIN_TOKENS are configured (issue 8). */
  protected requireAdmin(): void {
    const { config } = this.loadConfig();
    const tokens = Tokens.fromConfig(config);
    if (!tokens.has('admin')) return;
    const token = this.token ?? this.context.env.AFM_TOKEN;
    if (!token) throw new UsageError('this command needs an admin token: --token or $AFM_TOKEN');
    if (tokens.identify(token)?.role !== 'admin') throw new UsageError('--token is not an admin token');
  }

  protected async withOps<T>(run: (ops: OpenedOps) => Promise<T>): Promise<T> {
    const ops = await openOps(this.loadConfig().config);
    try {
      return await run(ops);
    } finally {
      await ops.close();
    }
  }

  protected print(value: unknown, human: () => string): void {
    this.context.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : human());
  }
}

export function requireUuid(value: string, what: string): string {
  if (!Uuid.safeParse(value).success) throw new UsageError(`${what} must be a UUID, got ${JSON.stringify(value)}`);
  return value;
}

export type Cell = string | number | boolean | null | undefined;

/** A plain-text table: a header row, then one row per item, columns padded to fit. */
export function table(columns: string[], rows: Cell[][]): string {
  const text = (cell: Cell) => (cell === null || cell === undefined ? '-' : String(cell));
  const widths = columns.map((column, index) => Math.max(column.length, ...rows.map((row) => text(row[index]).length)));
  const line = (cells: string[]) =>
    `${cells
      .map((cell, index) => cell.padEnd(widths[index]!))
      .join('  ')
      .trimEnd()}\n`;
  return line(columns) + rows.map((row) => line(row.map(text))).join('');
}

/** Seconds as a short age, e.g. 42s, 3m05s, 2h10m. */
export function age(seconds: number | null): string {
  if (seconds === null) return '-';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
