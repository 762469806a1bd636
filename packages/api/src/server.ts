/** Starts one API replica on a host and port; the caller owns signals and shutdown order. */
import type { FastifyInstance } from 'fastify';
import type { Config } from '@afm/shared/config';
import type { Logger } from '@afm/shared/logger';
import { buildApp } from './app.js';
import { openApiDeps } from './deps.js';

export interface ApiServer {
  app: FastifyInstance;
  /** The address actually bound (port 0 picks a free one). */
  url: string;
  /** Stops taking connections, finishes in-flight requests (new ones get 503), then closes storage. */
  close(): Promise<void>;
}

export async function startApiServer(options: { config: Config; logger: Logger; host: string; port: number }): Promise<ApiServer> {
  const deps = await openApiDeps(options.config, options.logger);
  const app = await buildApp(deps);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    await deps.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  options.logger.info({ url }, 'api listening');
  return {
    app,
    url,
    async close() {
      await app.close();
      await deps.close();
    },
  };
}
