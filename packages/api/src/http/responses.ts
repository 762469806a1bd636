/** The error answers a route can give, for its schema (and so for the OpenAPI document). */
import { ErrorBody } from '@afm/shared/protocol';

const DESCRIPTIONS: Record<number, string> = {
  400: 'Bad request: the message names the field',
  404: 'Not found',
  409: 'Conflict: the task is finished already',
  413: 'Request body too large',
  500: 'Internal error: retry later',
  503: 'Storage unreachable: retry later',
};

export function errorResponses<C extends number>(...codes: C[]): Record<C, typeof ErrorBody> {
  return Object.fromEntries(codes.map((code) => [code, ErrorBody.describe(DESCRIPTIONS[code] ?? 'Error')])) as Record<C, typeof ErrorBody>;
}

/** Every route that takes a body can answer these. */
export const BODY_ERRORS = [400, 413, 500, 503] as const;
