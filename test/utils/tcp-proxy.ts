import { connect, createServer, type Server, type Socket } from 'node:net';
import { freePort } from './free-port.js';

export interface TcpProxy {
  readonly port: number;
  /** Drops every open connection and refuses new ones: the dependency behind it is gone. */
  cut(): Promise<void>;
  /** Drops every open connection and accepts new ones without ever answering: the dependency hangs. */
  stall(): Promise<void>;
  /** Accepts and relays connections again. */
  restore(): Promise<void>;
  close(): Promise<void>;
}

/** A loopback TCP relay to `targetPort`, so a test can take away a shared service (PostgreSQL, S3) from one app only. */
export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const port = await freePort();
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let stalled = false;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      const next = createServer((client) => {
        if (stalled) {
          sockets.add(client);
          client.once('close', () => sockets.delete(client));
          client.on('error', () => client.destroy());
          return;
        }
        const upstream = connect(targetPort, '127.0.0.1');
        for (const socket of [client, upstream]) {
          sockets.add(socket);
          socket.once('close', () => sockets.delete(socket));
          socket.on('error', () => {
            client.destroy();
            upstream.destroy();
          });
        }
        client.pipe(upstream).pipe(client);
      });
      next.once('error', reject);
      next.listen(port, '127.0.0.1', () => resolve());
      server = next;
    });
  const cut = async () => {
    const running = server;
    server = undefined;
    for (const socket of sockets) {
      socket.destroy();
    }
    if (running) {
      await new Promise<void>((resolve) => running.close(() => resolve()));
    }
  };
  const stall = async () => {
    await cut();
    stalled = true;
    await listen();
  };
  const restore = async () => {
    await cut();
    stalled = false;
    await listen();
  };
  await listen();
  return { port, cut, stall, restore, close: cut };
}
