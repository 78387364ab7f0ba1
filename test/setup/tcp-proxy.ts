import net from 'node:net';
import type { AddressInfo } from 'node:net';

/**
 * A TCP proxy a test can cut and restore, to make a real server unreachable for a
 * while without touching the server: `stop()` drops every connection and refuses new
 * ones; `start()` listens again on the same port. `hang()` keeps the connections open
 * but passes nothing on (a server that stops answering), `flow()` passes it all on again.
 */
export class TcpProxy {
  private server: net.Server | null = null;
  private readonly sockets = new Set<net.Socket>();
  port = 0;
  private readonly target: { host: string; port: number };
  private held: (() => void)[] | null = null;

  constructor(target: { host: string; port: number }) {
    this.target = target;
  }

  async start(): Promise<number> {
    if (this.server) return this.port;
    const server = net.createServer((client) => {
      const upstream = net.connect(this.target.port, this.target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      const relay = (from: net.Socket, to: net.Socket) => from.on('data', (chunk) => {
        if (this.held) this.held.push(() => to.write(chunk));
        else to.write(chunk);
      });
      relay(client, upstream);
      relay(upstream, client);
      client.on('end', () => upstream.end());
      upstream.on('end', () => client.end());
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
    return this.port;
  }

  hang(): void {
    this.held ??= [];
  }

  flow(): void {
    const held = this.held ?? [];
    this.held = null;
    held.forEach((write) => write());
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
