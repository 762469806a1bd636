/**
 * One place that turns every failure into the JSON error body of SPEC §2.6:
 * `{statusCode, code, error, message}`. 4xx: the request is wrong (and says where); 503: retry later.
 */
import { STATUS_CODES } from 'node:http';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AfmError, isAfmError, isStorageUnavailable, unavailable, type ErrorCode } from '@afm/shared/errors';
import type { ErrorBody } from '@afm/shared/protocol';
import { validate } from '@afm/shared/validation';
import type { z } from 'zod';

export function errorBody(statusCode: number, code: string, message: string): ErrorBody {
  return { statusCode, code, error: STATUS_CODES[statusCode] ?? 'Error', message };
}

function send(reply: FastifyReply, error: AfmError) {
  if (error.headers) reply.headers(error.headers);
  return reply.code(error.statusCode).type('application/json').send(errorBody(error.statusCode, error.code, error.message));
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
  app.setErrorHandler((error: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const afmError = toAfmError(error);
    if (afmError.statusCode >= 500) {
      const level = afmError.code === 'AFM_ERR_UNAVAILABLE' ? 'warn' : 'error';
      request.log[level]({ err: afmError.cause ?? afmError, code: afmError.code }, afmError.message);
    } else {
      request.log.debug({ code: afmError.code, reason: afmError.message }, 'request refused');
    }
    return send(reply, afmError);
  });

  app.setNotFoundHandler((request, reply) =>
    send(reply, new AfmError('AFM_ERR_ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`)),
  );

  // Every body is parsed as JSON whatever its content type: agents differ in the headers they send,
  // and a body that is not JSON must be a 400, not a 415 (SPEC §2.6).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    readBody(payload, request.routeOptions.bodyLimit ?? app.initialConfig.bodyLimit ?? 1024 * 1024, (error, text) => {
      if (error) return done(error, undefined);
      if (text!.trim() === '') return done(null, undefined);
      try {
        done(null, JSON.parse(text!));
      } catch (cause) {
        done(new AfmError('AFM_ERR_INVALID_JSON', `request body is not valid JSON: ${(cause as Error).message}`), undefined);
      }
    });
  });

  // Route schemas are zod schemas: validation failures become a 400 naming each wrong field.
  app.setValidatorCompiler<z.ZodType>(({ schema, httpPart }) => (data: unknown) => {
    const result = validate(schema, data, httpPart ?? 'request');
    return result.success ? { value: result.value } : { error: new AfmError('AFM_ERR_VALIDATION', result.message) };
  });
  // Replies are built from the same schemas' types; no second validation on the way out.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
}

/**
 * Reads a body up to `limit` bytes. A larger body is read to its end and discarded, so the client gets
 * its 413 instead of a reset connection; one that keeps going far past the limit is cut off.
 */
function readBody(payload: NodeJS.ReadableStream, limit: number, callback: (error: Error | null, text?: string) => void) {
  const chunks: Buffer[] = [];
  let size = 0;
  let finished = false;
  const finish = (error: Error | null, text?: string) => {
    if (finished) return;
    finished = true;
    callback(error, text);
  };
  const tooLarge = () => new AfmError('AFM_ERR_PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes`);
  payload.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else if (size > 16 * limit) {
      (payload as NodeJS.ReadableStream & { destroy(): void }).destroy();
      finish(tooLarge());
    }
  });
  payload.on('end', () => (size > limit ? finish(tooLarge()) : finish(null, Buffer.concat(chunks).toString('utf8'))));
  payload.on('error', (error) => finish(error as Error));
}
