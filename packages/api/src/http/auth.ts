/** Route guards for the roles of issue 8 (see shared/src/auth.ts): 401 without a token, 403 with another role's. */
import type { FastifyReply, FastifyRequest, onRequestHookHandler } from 'fastify';
import type { Credential, Role, Tokens } from '@afm/shared/auth';
import { AfmError } from '@afm/shared/errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** Who is calling, when authentication is on. */
    credential?: Credential;
  }
}

const BEARER = /^Bearer\s+(\S+)\s*$/i;

export function requireRole(tokens: Tokens, role: Role): onRequestHookHandler {
  return (request: FastifyRequest, _reply: FastifyReply, done: (error?: Error) => void) => {
    if (!tokens.enabled) return done();
    const token = BEARER.exec(request.headers.authorization ?? '')?.[1];
    if (!token) {
      return done(
        new AfmError('AFM_ERR_UNAUTHENTICATED', `this route needs a ${role} token: Authorization: Bearer <token>`, {
          headers: { 'www-authenticate': 'Bearer' },
        }),
      );
    }
    const credential = tokens.identify(token);
    if (!credential) {
      return done(
        new AfmError('AFM_ERR_UNAUTHENTICATED', 'unknown token', { headers: { 'www-authenticate': 'Bearer error="invalid_token"' } }),
      );
    }
    if (credential.role !== role)
      return done(new AfmError('AFM_ERR_FORBIDDEN', `this route needs a ${role} token, not a ${credential.role} token`));
    request.credential = credential;
    done();
  };
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Browsers may send a form or a `no-cors` fetch to any site, and AFM reads any body as JSON, so
 * without this a page an operator has open could drive the admin API while authentication is off.
 * Writes from a browser must come from the replica's own origin (the dashboard): `Sec-Fetch-Site`
 * says so in every current browser, `Origin` in older ones. Clients that are not browsers send
 * neither and pass.
 */
export const refuseCrossSite: onRequestHookHandler = (request, _reply, done) => {
  if (SAFE_METHODS.has(request.method)) return done();
  const site = request.headers['sec-fetch-site'];
  const origin = request.headers.origin;
  let foreign = site !== undefined && site !== 'same-origin' && site !== 'none';
  if (site === undefined && origin !== undefined) {
    foreign = !URL.canParse(origin) || new URL(origin).host !== request.headers.host;
  }
  if (foreign) return done(new AfmError('AFM_ERR_FORBIDDEN', 'a write to /api from a page of another origin is refused'));
  done();
};
