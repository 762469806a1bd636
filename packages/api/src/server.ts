/** Starts one API replica on a host and port; the caller owns signals and shutdown order. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
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
  // Sockets with a response in progress; the others are idle.
  const sockets = new Map<Socket, number>();
  app.server.on('connection', (socket: Socket) => {
    sockets.set(socket, 0);
    socket.once('close', () => sockets.delete(socket));
  });
  app.server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    const socket = request.socket;
    sockets.set(socket, (sockets.get(socket) ?? 0) + 1);
    response.once('close', () => sockets.has(socket) && sockets.set(socket, sockets.get(socket)! - 1));
  });
  try {
    // Fastify's own line is the one "listening" line (a second of AFM's said the same thing again).
    await app.listen({ host: options.host, port: options.port, listenTextResolver: (address) => `api listening at ${address}` });
  } catch (error) {
    await deps.close();
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  const url = `http://${host}:${port}`;
  return {
    app,
    url,
    async close() {
      const closing = app.close();
      // Fastify finishes in-flight requests, then waits for every connection to close; a connection a
      // client keeps alive (or left half-open) would hold the shutdown up until its keep-alive ran out.
      // Connections with no response in progress lose nothing by closing: sweep them as they go idle.
      const sweeper = setInterval(() => {
        for (const [socket, responses] of sockets) if (responses === 0) socket.destroy();
      }, 100);
      try {
        await closing;
      } finally {
        clearInterval(sweeper);
      }
      await deps.close();
    },
  };
}
