import net from 'node:net';

import { freePort } from './server.ts';

/**
 * A TCP proxy between Mekong ID and PostgreSQL that a test can cut and restore, to play a database
 * that is down, restarting or unreachable without touching the machine's real server (other tests
 * share it). Cut, it refuses new connections and drops every open one, as a restarting server does.
 */
export interface TcpProxy {
  readonly port: number;
  /** Starts forwarding (again). */
  open(): Promise<void>;
  /** Drops every connection and stops listening: connecting is refused until `open`. */
  cut(): Promise<void>;
  /**
   * Sends new connections to `target` from now on and drops the open ones (their clients reconnect,
   * to the new target): a load balancer taking one node out and another in, between two requests.
   */
  route(target: { host: string; port: number }): Promise<void>;
}

export async function createTcpProxy(initialTarget: { host: string; port: number }): Promise<TcpProxy> {
  let target = initialTarget;
  const port = await freePort();
  const sockets = new Set<net.Socket>();
  let server: net.Server | null = null;

  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A dropped peer is the point of this proxy; its errors are expected.
    socket.on('error', () => socket.destroy());
  };

  return {
    port,
    async route(next) {
      target = next;
      const closed = [...sockets].map((socket) => new Promise((resolve) => socket.once('close', resolve)));
      for (const socket of sockets) socket.destroy();
      await Promise.all(closed);
      // Time for the clients' side of each dropped connection to see it close, so that their next
      // request opens a new one instead of writing into the dead one.
      await new Promise((resolve) => setTimeout(resolve, 50));
    },
    async open() {
      if (server) return;
      const listening = net.createServer((incoming) => {
        const outgoing = net.connect(target.port, target.host);
        track(incoming);
        track(outgoing);
        incoming.once('close', () => outgoing.destroy());
        outgoing.once('close', () => incoming.destroy());
        incoming.pipe(outgoing).pipe(incoming);
      });
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        listening.listen(port, '127.0.0.1', resolve);
      });
      server = listening;
    },
    async cut() {
      const closing = server;
      server = null;
      const closed = closing ? new Promise((resolve) => closing.close(resolve)) : Promise.resolve();
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}

/** Where TEST_DATABASE_URL's server listens, for a proxy in front of it. */
export function postgresAddress(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port || 5432) };
}

/** The same database URL, reached through the proxy. */
export function throughProxy(url: string, proxy: TcpProxy): string {
  const parsed = new URL(url);
  parsed.hostname = '127.0.0.1';
  parsed.port = String(proxy.port);
  return parsed.toString();
}
