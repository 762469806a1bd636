/**
 * Base of the administration commands (queues, tasks, agents): `--json` for scripts, human tables
 * otherwise, and the fleet for the command's run — through a replica's admin API with `--url`, else
 * one Redis + Postgres connection (a clear message when something cannot be reached).
 */
import { Option, UsageError } from 'clipanion';
import { Tokens } from '@afm/shared/auth';
import type { OpenOpsOptions } from '@afm/shared/ops/deps';
import { Uuid } from '@afm/shared/protocol';
import { directFleet, httpFleet, type Fleet } from '../runtime/fleet.js';
import { AfmCommand } from './base.js';

export abstract class AdminCommand extends AfmCommand {
  json = Option.Boolean('--json', false, { description: 'Print JSON for scripts instead of a table' });
  token = Option.String('--token', { description: 'Admin token, when ADMIN_TOKENS are configured (default: $AFM_TOKEN)' });
  url = Option.String('--url', {
    description: "Act through this AFM's admin API instead of Redis and Postgres; needs only a token (default: $AFM_URL)",
  });

  private get apiUrl(): string | undefined {
    return this.url ?? (this.context.env.AFM_URL || undefined);
  }

  /** Commands that change the fleet need an admin token once ADMIN_TOKENS are configured (issue 8). */
  protected requireAdmin(): void {
    // Through the API, the replica checks the token.
    if (this.apiUrl) return;
    const { config } = this.loadConfig();
    const tokens = Tokens.fromConfig(config);
    if (!tokens.has('admin')) return;
    const token = this.token ?? this.context.env.AFM_TOKEN;
    if (!token) throw new UsageError('this command needs an admin token: --token or $AFM_TOKEN');
    if (tokens.identify(token)?.role !== 'admin') throw new UsageError('--token is not an admin token');
  }

  /** `REDIS_ONLY` for the commands that work on Redis alone (the queue commands). */
  protected async withFleet<T>(run: (fleet: Fleet) => Promise<T>, options: OpenOpsOptions = {}): Promise<T> {
    const url = this.apiUrl;
    if (url && !URL.canParse(url)) throw new UsageError(`--url must be a URL such as http://127.0.0.1:8080, got ${JSON.stringify(url)}`);
    const fleet = url ? httpFleet(url, this.token ?? this.context.env.AFM_TOKEN) : await directFleet(this.loadConfig().config, options);
    try {
      return await run(fleet);
    } finally {
      await fleet.close();
    }
  }

  protected print(value: unknown, human: () => string): void {
    this.context.stdout.write(this.json ? `${JSON.stringify(value, null, 2)}\n` : human());
  }
}

/** The queue commands need Redis alone: they run while Postgres is down (active agents are then unknown). */
export const REDIS_ONLY: OpenOpsOptions = { postgres: 'optional' };

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

/** A queue in words: type, version and location. */
export const where = (q: { task_type: string; task_version: number; location: { country: string; region?: string } | null }) =>
  `${q.task_type} v${q.task_version}${q.location ? ` in ${q.location.country}${q.location.region ? `/${q.location.region}` : ''}` : ''}`;

/** Seconds as a short age, e.g. 42s, 3m05s, 2h10m. */
export function age(seconds: number | null): string {
  if (seconds === null) return '-';
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}
