/**
 * The fleet dashboard (issues 5 and 15): static files from packages/api/dashboard at /dashboard, no
 * CDN, and `/` sends a browser there. Its pages carry a strict CSP and the other headers helmet would
 * set: scripts and styles only from this origin, no framing, no MIME sniffing, no referrer.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyPluginAsync } from 'fastify';

// From src/http or dist/http alike.
const ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url));

export const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
} as const;

export const dashboard: FastifyPluginAsync = async (app) => {
  const index = await readFile(`${ROOT}index.html`);
  // Encapsulated: the headers go on the dashboard's answers only, not on the API's JSON.
  app.addHook('onSend', async (_request, reply) => {
    reply.headers(SECURITY_HEADERS);
  });
  await app.register(fastifyStatic, { root: ROOT, prefix: '/dashboard/', decorateReply: false, index: false, cacheControl: false });
  // `/dashboard` and `/dashboard/` (trailing slashes are ignored) show the page itself.
  app.get('/dashboard', { schema: { hide: true } }, (_request, reply) => reply.type('text/html; charset=utf-8').send(index));
  app.get('/', { schema: { hide: true } }, (_request, reply) => reply.redirect('/dashboard', 302));
};
