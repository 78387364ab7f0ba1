import { createServer, STATUS_CODES, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type Koa from 'koa';
import type { Config } from '../shared/config.ts';
import type { Door } from './purchase-door.ts';

/**
 * The API's HTTP server, with every limit set deliberately (README "HTTP limits"):
 *  - `requestTimeout`: a request's head and body must arrive within it, so a client that
 *    stalls mid-body holds its socket for that long at most (Node's default is 5 minutes);
 *  - `headersTimeout`: the same for the head alone (slow headers);
 *  - `keepAliveTimeout`: how long an idle keep-alive connection stays open; longer than
 *    the 60 s idle timeout of common load balancers, so that the balancer closes idle
 *    connections and never sends a request down one we are closing;
 *  - deadlines are checked every second (`connectionsCheckingInterval`), not every 30 s.
 * Nothing else bounds a response once the request is in: the SSE stream of the dashboard
 * lives as long as its operator watches, and each drop request holds a lane place at most
 * API_LANE_HOLD_MS (see the drop lane).
 *
 * Requests Node rejects before they reach Koa (malformed, too slow, headers too large,
 * CONNECT) get the error body of every other error instead of a bare status line. A
 * connection that sends nothing at all within `headersTimeout` is closed silently.
 */
export function createHttpServer(app: Koa & { door?: Door }, config: Config): Server {
  const koa = app.callback();
  const { door } = app;
  const server = createServer({
    requestTimeout: config.HTTP_REQUEST_TIMEOUT_MS,
    headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEP_ALIVE_TIMEOUT_MS,
    connectionsCheckingInterval: 1000,
  }, door ? (req, res) => door(req, res) || koa(req, res) : koa);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A connection that never sent a byte has no request to answer (a client that opened
    // it ahead, a browser's preconnect): it is closed without a word.
    if (err.code === 'ECONNRESET' || (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && socket.bytesRead === 0)) {
      socket.destroy();
      return;
    }
    const [status, code, message] = CLIENT_ERRORS[err.code ?? ''] ?? CLIENT_ERRORS.default;
    answerRaw(socket, status, code, message);
  });
  server.on('connect', (_req: IncomingMessage, socket: Duplex) =>
    answerRaw(socket, 405, 'method_not_allowed', 'CONNECT is not allowed here.'));
  return server;
}

/** Starts the server on `port`; resolves once it listens. */
export async function listen(app: Koa & { door?: Door }, config: Config, port: number): Promise<Server> {
  const server = createHttpServer(app, config);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

const CLIENT_ERRORS: Record<string, [number, string, string]> = {
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'request_timeout', 'The request did not arrive in time.'],
  HPE_HEADER_OVERFLOW: [431, 'headers_too_large', 'The request headers are too large.'],
  default: [400, 'bad_request', 'The request is not valid HTTP.'],
};

/** Writes a whole error response on a socket Node took away from Koa, then closes it (as Node's own answer does). */
function answerRaw(socket: Duplex, status: number, code: string, message: string): void {
  const response = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (socket.writable && !response?.headersSent) {
    const body = JSON.stringify({ error: { code, message } });
    socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n`
      + `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  }
  socket.destroy();
}
