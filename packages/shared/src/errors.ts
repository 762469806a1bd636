/**
 * Typed errors carrying their HTTP status (docs/protocol.md). The API's one error handler turns them into
 * `{statusCode, code, error, message}`; 4xx means "your request is wrong", 503 means "retry later".
 */

export const ERROR_CODES = {
  AFM_ERR_VALIDATION: 400,
  AFM_ERR_INVALID_JSON: 400,
  AFM_ERR_DUPLICATE_TASK: 400,
  AFM_ERR_UNKNOWN_TASK: 400,
  AFM_ERR_TASK_NOT_CLAIMED: 400,
  AFM_ERR_TASK_FINISHED: 400,
  AFM_ERR_TASK_FINISHED_CONFLICT: 409,
  AFM_ERR_TASK_NOT_FINISHED: 409,
  AFM_ERR_TASK_NOT_FOUND: 404,
  AFM_ERR_AGENT_NOT_FOUND: 404,
  AFM_ERR_QUEUE_NOT_FOUND: 404,
  AFM_ERR_ROUTE_NOT_FOUND: 404,
  AFM_ERR_METHOD_NOT_ALLOWED: 405,
  AFM_ERR_REQUEST_TIMEOUT: 408,
  AFM_ERR_PAYLOAD_TOO_LARGE: 413,
  AFM_ERR_UNAUTHENTICATED: 401,
  AFM_ERR_FORBIDDEN: 403,
  AFM_ERR_RATE_LIMITED: 429,
  AFM_ERR_UNAVAILABLE: 503,
  AFM_ERR_INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export class AfmError extends Error {
  readonly statusCode: number;
  /** Extra response headers (Retry-After, WWW-Authenticate). */
  readonly headers: Record<string, string> | undefined;

  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.headers = options?.headers;
    this.name = 'AfmError';
    this.statusCode = ERROR_CODES[code];
  }
}

export const isAfmError = (error: unknown): error is AfmError => error instanceof AfmError;

const STORAGE_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'NR_CLOSED',
]);

/**
 * True when an error says Redis or Postgres cannot be reached right now (as opposed to a bug).
 * Postgres SQLSTATE classes 08 (connection), 53 (resources), 57 (operator intervention) and 40001/40P01
 * (serialization/deadlock, safe to retry) count as "unavailable".
 */
export function isStorageUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (STORAGE_ERROR_CODES.has(code)) return true;
    if (/^(08|53|57)/.test(code) || code === '40001' || code === '40P01') return true;
  }
  const message = error.message;
  if (
    /Connection is closed|enableOfflineQueue|Stream isn't writeable|Connection terminated|connection timeout|timeout exceeded when trying to connect|Client has encountered a connection error|Cannot use a pool after calling end|the database system is (starting up|shutting down)|MaxRetriesPerRequestError|Reached the max retries per request limit|LOADING/i.test(
      message,
    )
  ) {
    return true;
  }
  return error.cause !== undefined && error.cause !== error && isStorageUnavailable(error.cause);
}

/** True when Postgres refused a value itself (SQLSTATE class 22 data exception, 54 limit exceeded). */
export function isDataRejected(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^(22|54)[0-9A-Z]{3}$/.test(code);
}

/** Wraps a storage fault in the one error every client understands as "try again later". */
export function unavailable(what: string, cause: unknown): AfmError {
  return new AfmError('AFM_ERR_UNAVAILABLE', `${what} is unavailable right now; try again later`, { cause });
}
