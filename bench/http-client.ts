import { connect, type Socket } from 'node:net';

/**
 * A minimal HTTP/1.1 keep-alive client for the load generator. `node:http` and `fetch`
 * spend more CPU per request than the servers under test on this 2-core box, so the
 * client writes pre-formatted requests on raw sockets and reads only the status line,
 * `Content-Length` and the body. One request in flight per connection (no pipelining),
 * so the pool size is the concurrency. The same client drives the system and the baselines.
 */
export type HttpResponse = { status: number; body: string; ms: number };

type Pending = { resolve: (r: HttpResponse) => void; reject: (e: Error) => void; start: number };

const HEADER_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = /\r\ncontent-length: *(\d+)/i;

class Connection {
  private socket: Socket;
  private buf: Buffer = Buffer.alloc(0);
  private pending: Pending | null = null;
  private headerLen = -1;
  private bodyLen = 0;
  private status = 0;
  private closeAfter = false;

  private readonly host: string;
  private readonly port: number;
  private readonly onFree: () => void;

  constructor(host: string, port: number, onFree: () => void) {
    this.host = host;
    this.port = port;
    this.onFree = onFree;
    this.socket = this.open();
  }

  private open(): Socket {
    const socket = connect({ host: this.host, port: this.port, noDelay: true });
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed')));
    return socket;
  }

  send(raw: string, pending: Pending): void {
    if (this.socket.destroyed) this.socket = this.open();
    this.pending = pending;
    this.buf = Buffer.alloc(0);
    this.headerLen = -1;
    this.socket.write(raw, 'latin1');
  }

  private onData(chunk: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    if (this.headerLen < 0) {
      const end = this.buf.indexOf(HEADER_END);
      if (end < 0) return;
      const head = this.buf.toString('latin1', 0, end);
      this.headerLen = end + 4;
      this.status = Number(head.slice(9, 12));
      const m = CONTENT_LENGTH.exec(head);
      if (!m) return this.fail(new Error(`response without Content-Length: ${head.slice(0, 80)}`));
      this.bodyLen = Number(m[1]);
      this.closeAfter = /\r\nconnection: *close/i.test(head);
    }
    if (this.buf.length < this.headerLen + this.bodyLen) return;
    const body = this.buf.toString('utf8', this.headerLen, this.headerLen + this.bodyLen);
    const p = this.pending!;
    this.pending = null;
    if (this.closeAfter) this.socket.destroy();
    p.resolve({ status: this.status, body, ms: performance.now() - p.start });
    this.onFree();
  }

  private fail(err: Error): void {
    const p = this.pending;
    this.pending = null;
    if (!this.socket.destroyed) this.socket.destroy();
    if (!p) return;
    p.reject(err);
    this.onFree();
  }

  close(): void {
    this.socket.removeAllListeners('close');
    this.socket.destroy();
  }
}

/** `size` keep-alive connections; requests beyond that wait in FIFO order. */
export class HttpPool {
  private readonly idle: Connection[] = [];
  private readonly all: Connection[] = [];
  private readonly waiting: { raw: string; pending: Pending }[] = [];

  constructor(host: string, port: number, size: number) {
    for (let i = 0; i < size; i++) {
      const c = new Connection(host, port, () => this.onFree(c));
      this.all.push(c);
      this.idle.push(c);
    }
  }

  /**
   * Sends one pre-formatted request. `ms` is measured from `startedAt` (default: now),
   * so an open-loop caller counts the time spent waiting for a free connection.
   */
  request(raw: string, startedAt = performance.now()): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const pending: Pending = { resolve, reject, start: startedAt };
      const conn = this.idle.pop();
      if (conn) conn.send(raw, pending);
      else this.waiting.push({ raw, pending });
    });
  }

  private onFree(conn: Connection): void {
    const next = this.waiting.shift();
    if (next) conn.send(next.raw, next.pending);
    else this.idle.push(conn);
  }

  close(): void {
    for (const c of this.all) c.close();
  }
}

/** Formats one HTTP/1.1 request (keep-alive is the default). */
export function formatRequest(method: string, path: string, headers: Record<string, string>, body?: string): string {
  let raw = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n`;
  for (const [k, v] of Object.entries(headers)) raw += `${k}: ${v}\r\n`;
  if (body !== undefined) raw += `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n`;
  return `${raw}\r\n${body ?? ''}`;
}
