/**
 * One outage, a few log lines (README, Logging). A client that cannot reach Redis or Postgres reports
 * an error at every reconnection attempt — a replica's four Redis connections wrote about 120 warnings
 * with full stacks a minute. OutageLog logs the first error of an outage with its stack, counts the
 * rest into a summary at most once per interval, and says when the connection works again.
 */
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';

export interface OutageLogOptions {
  /** Least time between two lines of one outage, in ms (default 60 s). */
  intervalMs?: number;
  /** The clock (tests). */
  now?: () => number;
}

export class OutageLog {
  private readonly intervalMs: number;
  private readonly now: () => number;
  /** Errors of the current outage (0: none going on). */
  private errors = 0;
  /** Errors since the last line. */
  private unlogged = 0;
  private since = 0;
  private lastLineAt = 0;

  /** `what` names the service in the lines, e.g. "Redis". */
  constructor(
    private readonly logger: Logger,
    private readonly what: string,
    options: OutageLogOptions = {},
  ) {
    this.intervalMs = options.intervalMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** A connection error: the first of an outage is logged with its stack, the others counted. */
  error(error: Error): void {
    const now = this.now();
    this.errors += 1;
    if (this.errors === 1) {
      this.since = now;
      this.lastLineAt = now;
      this.logger.warn({ err: error }, `${this.what} unreachable: ${error.message}`);
      return;
    }
    this.unlogged += 1;
    if (now - this.lastLineAt < this.intervalMs) return;
    const seconds = Math.round((now - this.lastLineAt) / 1000);
    this.logger.warn(
      { errors: this.unlogged, last_error: error.message },
      `${this.what} still unreachable: ${this.unlogged} more error${this.unlogged === 1 ? '' : 's'} in the last ${seconds} s (${error.message})`,
    );
    this.unlogged = 0;
    this.lastLineAt = now;
  }

  /** The connection works: once per outage, a line saying so with its error count; nothing otherwise. */
  recovered(): void {
    if (this.errors === 0) return;
    const seconds = Math.round((this.now() - this.since) / 1000);
    this.logger.info(
      { errors: this.errors, down_s: seconds },
      `${this.what} reachable again after ${this.errors} error${this.errors === 1 ? '' : 's'} (${seconds} s)`,
    );
    this.errors = 0;
    this.unlogged = 0;
  }

  /** Follows a connection: its 'error' events are errors, `ready` (ioredis' event of a usable connection) a recovery. */
  watch(connection: EventEmitter, ready = 'ready'): void {
    connection.on('error', (error: Error) => this.error(error));
    connection.on(ready, () => this.recovered());
  }
}
