/**
 * Request bodies: read up to BODY_LIMIT, nesting checked before parsing, parsed as JSON whatever the
 * content type (agents differ in the headers they send, and a body that is not JSON must be a 400, not
 * a 415 — docs/protocol.md). Nothing here recurses on the input, so no body can exhaust the stack.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { AfmError } from '@afm/shared/errors';
import { refusedJsonPath } from '@afm/shared/protocol';
import { describePath } from '@afm/shared/validation';
import type { BodyBudget } from './budget.js';

/** A body over the limit is still read (and dropped) up to this many bytes; see readBody. */
const DRAIN_LIMIT = 64 * 1024 * 1024;

/** `"__proto__"` in a JSON text, any of its characters possibly written as a \\u escape. */
const MAY_HOLD_PROTO = /"(?:_|\\u005[fF]){2}(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[fF])(?:t|\\u0074)(?:o|\\u006[fF])(?:_|\\u005[fF]){2}"/;

export interface BodyLimits {
  bodyLimit: number;
  depthLimit: number;
  /** How long a body may take to arrive (default BODY_READ_MS). */
  readMs?: number;
}

/** How long a body waits for its share of the budget before it is answered 503. */
export const BUDGET_WAIT_MS = 5_000;
/** How long a body may take to arrive once its share is taken (408 after): a stalled sender gives it back. */
export const BODY_READ_MS = 30_000;

declare module 'fastify' {
  interface FastifyRequest {
    /** The body's share of the budget, given back once the answer is sent or the client is gone. */
    bodyShare?: { release?: () => void; done: boolean };
  }
}

/**
 * Every body is read and parsed here, whatever its content type, within the process's body budget.
 */
export function registerBodyParsing(app: FastifyInstance, limits: BodyLimits, budget: BodyBudget): void {
  app.addHook('onRequest', (request, reply, done) => {
    const share: NonNullable<typeof request.bodyShare> = { done: false };
    request.bodyShare = share;
    reply.raw.once('close', () => {
      share.done = true;
      share.release?.();
    });
    done();
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (request, payload, done) => {
    const raw = payload as IncomingMessage;
    const limit = request.routeOptions.bodyLimit ?? limits.bodyLimit;
    const parse = (error: Error | null, text?: string) => {
      if (error) return done(error, undefined);
      try {
        done(null, parseJson(text!, limits.depthLimit));
      } catch (refusal) {
        done(refusal as Error, undefined);
      }
    };
    const length = raw.headers['content-length'];
    const declared = length === undefined ? limit : Number(length);
    // A body announced as too large is never buffered: it needs no share.
    const readMs = limits.readMs ?? BODY_READ_MS;
    if (declared > limit) return readBody(raw, limit, parse, undefined, readMs);
    void budget.reserve(declared, BUDGET_WAIT_MS).then((release) => {
      const share = request.bodyShare;
      if (!release) {
        const busy = new AfmError(
          'AFM_ERR_UNAVAILABLE',
          `busy: request bodies of ${budget.capacity} bytes are being handled; retry later`,
          {
            headers: { 'retry-after': '1' },
          },
        );
        return readBody(raw, limit, parse, busy, readMs);
      }
      if (!share || share.done) release();
      else share.release = release;
      readBody(raw, limit, parse, undefined, readMs);
    });
  });
}

/**
 * The top-level field under which a JSON text nests deeper than `limit` arrays and objects, found in
 * one pass over the text without parsing it ('' when the top level is not an object); undefined when it
 * does not. JSON.parse copes with any depth but spends a second on a megabyte of `[`; this costs a few
 * milliseconds.
 */
export function deepestField(text: string, limit: number): string | undefined {
  let depth = 0;
  let inString = false;
  let escaped = false;
  let stringStart = 0;
  let lastString = '';
  let field = '';
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (escaped) escaped = false;
      else if (code === 0x5c) escaped = true;
      else if (code === 0x22) {
        inString = false;
        if (depth === 1) lastString = text.slice(stringStart, index + 1);
      }
    } else if (code === 0x22) {
      inString = true;
      stringStart = index;
    } else if (code === 0x7b || code === 0x5b) {
      if (++depth > limit) return field;
    } else if (code === 0x7d || code === 0x5d) {
      depth--;
    } else if (code === 0x3a && depth === 1) {
      // A colon at the top level follows a key: the field whose value comes next.
      try {
        field = JSON.parse(lastString) as string;
      } catch {
        field = '';
      }
    }
  }
  return undefined;
}

/** Parses a body's text; every refusal is a 400 naming the field or the limit. */
export function parseJson(text: string, depthLimit: number): unknown {
  if (text.trim() === '') return undefined;
  const deep = deepestField(text, depthLimit);
  if (deep !== undefined) {
    throw new AfmError(
      'AFM_ERR_VALIDATION',
      `${describePath('body', deep ? [deep] : [])}: JSON nested more than ${depthLimit} levels deep (JSON_DEPTH_LIMIT)`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch (cause) {
    throw new AfmError('AFM_ERR_INVALID_JSON', `request body is not valid JSON: ${(cause as Error).message}`);
  }
  // Only a text that spells __proto__ between quotes, escaped or not, can hold such a key.
  const refused = MAY_HOLD_PROTO.test(text) ? refusedJsonPath(body, { strings: false }) : undefined;
  if (refused) throw new AfmError('AFM_ERR_VALIDATION', `${describePath('body', refused.path)}: ${refused.message}`);
  return body;
}

const tooLarge = (limit: number) => new AfmError('AFM_ERR_PAYLOAD_TOO_LARGE', `request body is larger than ${limit} bytes (BODY_LIMIT)`);

/**
 * Reads a body up to `limit` bytes. A larger one is read to its end and dropped before the 413 goes
 * out: the answer closes the connection, and closing it while the client is still sending would reset
 * it and lose the answer. Past DRAIN_LIMIT the 413 goes out at once and the connection is cut.
 * `refusal`: the body is read and dropped the same way, then refused with this error.
 */
export function readBody(
  request: IncomingMessage,
  limit: number,
  callback: (error: Error | null, text?: string) => void,
  refusal?: AfmError,
  readMs = BODY_READ_MS,
): void {
  let finished = false;
  // The answer closes the connection (Fastify does after any body error).
  const deadline = setTimeout(
    () => finish(new AfmError('AFM_ERR_REQUEST_TIMEOUT', `request body not received within ${readMs / 1000} s`)),
    readMs,
  ).unref();
  const finish = (error: Error | null, text?: string) => {
    clearTimeout(deadline);
    if (finished) return;
    finished = true;
    callback(error, text);
  };
  request.once('close', () => clearTimeout(deadline));
  const chunks: Buffer[] = [];
  let size = refusal || Number(request.headers['content-length']) > limit ? limit + 1 : 0;
  request.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= limit) chunks.push(chunk);
    else if (chunks.length > 0) chunks.length = 0;
    if (size > DRAIN_LIMIT) {
      finish(tooLarge(limit));
      request.destroy();
    }
  });
  request.on('end', () => finish(refusal ?? (size > limit ? tooLarge(limit) : null), Buffer.concat(chunks).toString('utf8')));
  request.on('error', (error) => finish(error));
}
