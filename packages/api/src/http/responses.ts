/** The error answers a route can give, for its schema (and so for the OpenAPI document). */
import type { Role } from '@afm/shared/auth';
import { ErrorBody } from '@afm/shared/protocol';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request: the message names the field',
  404: 'Not found',
  408: 'The request body did not arrive within 30 s',
  409: 'Conflict: the task is finished already (or, for a retry, not finished yet)',
  // Bodies are parsed as JSON whatever their content type (agents differ in the headers they send), so
  // there is no 415: a body that is not JSON is a 400.
  413: 'Request body larger than BODY_LIMIT, or a field larger than its limit (TASK_DATA_LIMIT, RESULT_LIMIT; the message names it)',
  429: 'More polls for this agent_id than POLL_RATE_LIMIT a second, counted across replicas; retry after the Retry-After header (1 s)',
  500: 'Internal error: retry later',
  503: 'Storage unreachable, or this replica busy with other request bodies: retry later',
};

export function errorResponses<C extends number>(...codes: C[]): Record<C, typeof ErrorBody> {
  return Object.fromEntries(codes.map((code) => [code, ErrorBody.describe(DESCRIPTIONS[code] ?? 'Error')])) as Record<C, typeof ErrorBody>;
}

/** Every route that takes a body can answer these. */
export const BODY_ERRORS = [400, 408, 413, 500, 503] as const;

/** Only while tokens are configured: with none, authentication is off (SECURITY.md). */
const AUTH_OFF =
  'Only when tokens are configured (AGENT_TOKENS, BPMS_TOKENS, ADMIN_TOKENS or TOKEN_FILE); without any, authentication is off and this never happens';

/** The answers of a route guarded by `requireRole(tokens, role)` (http/auth.ts). */
export function authResponses(role: Role): Record<401 | 403, typeof ErrorBody> {
  return {
    401: ErrorBody.describe(`No ${role} token, or an unknown one (WWW-Authenticate: Bearer). ${AUTH_OFF}`),
    403: ErrorBody.describe(`A token of another role than ${role}. ${AUTH_OFF}`),
  };
}
