/** The fleet dashboard (issue 5): static files from packages/api/dashboard at /dashboard, no CDN. */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import fp from 'fastify-plugin';

// From src/http or dist/http alike.
const ROOT = fileURLToPath(new URL('../../dashboard/', import.meta.url));

export const dashboard = fp(
  async (app) => {
    const index = await readFile(`${ROOT}index.html`);
    await app.register(fastifyStatic, { root: ROOT, prefix: '/dashboard/', decorateReply: false, index: false, cacheControl: false });
    // `/dashboard` and `/dashboard/` (trailing slashes are ignored) show the page itself.
    app.get('/dashboard', { schema: { hide: true } }, (_request, reply) => reply.type('text/html; charset=utf-8').send(index));
  },
  { name: 'afm-dashboard' },
);
