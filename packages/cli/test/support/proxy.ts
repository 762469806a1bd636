/** A TCP proxy that a test can cut and restore: a storage outage for the processes behind it only. */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface CuttableProxy {
  port: number;
  /** Connections refused while cut: how often clients tried to reach the server. */
  refused(): number;
  /** Drops every connection and refuses new ones, like a server that went down. */
  cut(): void;
  restore(): void;
  /**
   * Arms a lost reply: the next request containing `marker` reaches the server, whose answer is
   * dropped and the connection cut, as when a server dies after doing the work but before replying.
   * Resolves once that happened.
   */
  loseReplyTo(marker: string): Promise<void>;
  close(): Promise<void>;
}

export async function startProxy(upstreamHost: string, upstreamPort: number): Promise<CuttableProxy> {
  let up = true;
  let refused = 0;
  let armed: { marker: string; lost: () => void } | undefined;
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
    // Set once this connection carried the armed request: its next answer is dropped.
    let doomed: (() => void) | undefined;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      if (armed && chunk.includes(armed.marker)) {
        doomed = armed.lost;
        armed = undefined;
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!doomed) return void client.write(chunk);
      const lost = doomed;
      doomed = undefined;
      client.destroy();
      upstream.destroy();
      lost();
    });
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
    loseReplyTo(marker) {
      return new Promise((resolve) => (armed = { marker, lost: resolve }));
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

/** A Redis URL (or any service URL) through a new proxy: what a process behind the proxy connects to. */
export async function proxied(url: string, defaultPort: number): Promise<{ proxy: CuttableProxy; url: string }> {
  const direct = new URL(url);
  const proxy = await startProxy(direct.hostname, Number(direct.port || defaultPort));
  const through = new URL(url);
  through.port = String(proxy.port);
  return { proxy, url: through.toString() };
}
