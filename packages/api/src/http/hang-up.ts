import type { FastifyReply } from 'fastify';

/** Aborts when the client hangs up before the answer went out (a long poll must not claim for nobody). */
export function hangUp(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => {
    if (!reply.raw.writableEnded) controller.abort();
  });
  return controller.signal;
}
