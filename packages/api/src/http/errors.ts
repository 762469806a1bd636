/**
 * One place that turns every failure into the JSON error body of docs/protocol.md:
 * `{statusCode, code, error, message}`. 4xx: the request is wrong (and says where); 503: retry later.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AfmError, isAfmError, isStorageUnavailable, unavailable, type ErrorCode } from '@afm/shared/errors';
import type { ErrorBody } from '@afm/shared/protocol';
import { OutageLog } from '@afm/shared/log-throttle';
import type { Logger } from '@afm/shared/logger';
import { validate } from '@afm/shared/validation';
import type { z } from 'zod';

export function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

function send(reply: FastifyReply, error: AfmError) {
  if (error.headers) reply.headers(error.headers);
  return reply
    .code(error.statusCode)
    .type('application/json')
    .send(errorBody(error.statusCode, error.code, error.message));
}

/** Fastify's own client errors (body parsing, limits), mapped to AFM codes. */
const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_JSON_BODY: 'AFM_ERR_INVALID_JSON',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'AFM_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'AFM_ERR_INVALID_JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'AFM_ERR_INVALID_JSON',
  FST_ERR_CTP_BODY_TOO_LARGE: 'AFM_ERR_PAYLOAD_TOO_LARGE',
};

export function toAfmError(error: FastifyError | Error): AfmError {
  if (isAfmError(error)) return error;
  const code = (error as FastifyError).code;
  const mapped = code ? FASTIFY_CODES[code] : undefined;
  if (mapped) return new AfmError(mapped, error.message, { cause: error });
  const status = (error as FastifyError).statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new AfmError('AFM_ERR_VALIDATION', error.message, { cause: error });
  }
  if (isStorageUnavailable(error)) return unavailable('storage', error);
  return new AfmError('AFM_ERR_INTERNAL', 'internal error; try again later', { cause: error });
}

export function registerErrorHandling(app: FastifyInstance): void {
  // During an outage every request answers 503: one line with the stack, then a count a minute.
  const outage = new OutageLog(app.log as Logger, 'Storage (requests answered 503)');
  app.addHook('onResponse', async (_request, reply) => {
    if (reply.statusCode < 500) outage.recovered();
  });
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const afmError = toAfmError(error);
    if (afmError.statusCode >= 500 && afmError.cause === undefined && afmError.code === 'AFM_ERR_UNAVAILABLE') {
      // Load shed by AFM itself (busy): the client retries; nothing is wrong with storage or code.
      request.log.debug({ code: afmError.code, reason: afmError.message }, 'request shed');
    } else if (afmError.code === 'AFM_ERR_UNAVAILABLE') {
      request.log.debug({ code: afmError.code, reason: afmError.message }, 'request answered 503');
      outage.error(afmError.cause instanceof Error ? afmError.cause : afmError);
    } else if (afmError.statusCode >= 500) {
      request.log.error({ err: afmError.cause ?? afmError, code: afmError.code }, afmError.message);
    } else {
      request.log.debug({ code: afmError.code, reason: afmError.message }, 'request refused');
    }
    return send(reply, afmError);
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, new AfmError('AFM_ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  // Route schemas are zod schemas: validation failures become a 400 naming each wrong field.
  app.setValidatorCompiler<z.ZodType>(({ schema, httpPart }) => (data: unknown) => {
    const result = validate(schema, data, httpPart ?? 'request');
    return result.success ? { value: result.value } : { error: new AfmError('AFM_ERR_VALIDATION', result.message) };
  });
  // Replies are built from the same schemas' types; no second validation on the way out.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}
