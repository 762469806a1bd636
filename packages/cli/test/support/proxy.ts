/** A TCP proxy that a test can cut and restore: a storage outage for the processes behind it only. */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CuttableProxy {
  port: number;
  /** Connections refused while cut: how often clients tried to reach the server. */
  refused(): number;
  /** Drops every connection and refuses new ones, like a server that went down. */
  cut(): void;
  restore(): void;
  close(): Promise<void>;
}

export async function startProxy(upstreamHost: string, upstreamPort: number): Promise<CuttableProxy> {
  let up = true;
  let refused = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (!up) {
      refused++;
      return client.destroy();
    }
    const upstream = connect(upstreamPort, upstreamHost);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    refused: () => refused,
    cut() {
      up = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      up = true;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
