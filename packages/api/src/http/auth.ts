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
