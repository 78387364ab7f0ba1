import { connect, type Socket } from 'node:net';

/**
 * HTTP on raw sockets, byte for byte as written: for clients that misbehave (hang up,
 * stall, send half a body) and for paths that `fetch` would normalise.
 */
export type RawResponse = { status: number; headers: Record<string, string>; body: any; text: string };

const target = (baseUrl: string) => {
  const url = new URL(baseUrl);
  return { host: url.hostname, port: Number(url.port) };
};

/** Opens a socket to the server; resolves once connected. */
export function openSocket(baseUrl: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(target(baseUrl), () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** The head of a request: request line and headers, ending with the blank line. */
export function head(method: string, path: string, headers: Record<string, string | number> = {}): string {
  const lines = [`${method} ${path} HTTP/1.1`, 'Host: 127.0.0.1', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** A whole request with a body (Content-Length set from it unless given, or the body is chunked). */
export function request(method: string, path: string, headers: Record<string, string | number> = {}, body?: string | Buffer): Buffer {
  const payload = body === undefined ? Buffer.alloc(0) : Buffer.from(body);
  const framed = body === undefined || 'Content-Length' in headers || 'Transfer-Encoding' in headers;
  const all = framed ? headers : { ...headers, 'Content-Length': payload.length };
  return Buffer.concat([Buffer.from(head(method, path, all)), payload]);
}

/** Writes the bytes and destroys the socket at once: a client that hangs up mid-request. */
export async function sendAndHangUp(baseUrl: string, bytes: Buffer | string): Promise<void> {
  const socket = await openSocket(baseUrl);
  await new Promise<void>((resolve) => socket.write(bytes, () => resolve()));
  socket.destroy();
}

/** Writes the bytes and leaves the socket open: a client that stalls. Returns the socket. */
export async function sendAndStall(baseUrl: string, bytes: Buffer | string): Promise<Socket & { closedByServer: Promise<string> }> {
  const socket = await openSocket(baseUrl);
  let text = '';
  socket.on('data', (chunk) => (text += chunk.toString('latin1')));
  const closedByServer = new Promise<string>((resolve) => socket.once('close', () => resolve(text)));
  socket.on('error', () => {});
  socket.write(bytes);
  return Object.assign(socket, { closedByServer });
}

/**
 * Sends one request exactly as given and reads one response (Content-Length or close
 * delimited). Rejects after `timeoutMs` without an answer: a server that never answers.
 */
export async function rawRequest(
  baseUrl: string, bytes: Buffer | string, { timeoutMs = 10_000, headOnly = false }: { timeoutMs?: number; headOnly?: boolean } = {},
): Promise<RawResponse> {
  const socket = await openSocket(baseUrl);
  // A HEAD response announces a length and sends no body.
  const bodiless = headOnly || String(bytes).startsWith('HEAD ');
  return new Promise((resolve, reject) => {
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no answer within ${timeoutMs} ms to ${String(bytes).split('\r\n')[0]}`));
    }, timeoutMs);
    const finish = (res: RawResponse) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(res);
    };
    const tryParse = (ended: boolean) => {
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return ended ? fail(new Error(`connection closed without a response: ${JSON.stringify(data.toString())}`)) : undefined;
      const [statusLine, ...lines] = data.subarray(0, end).toString('latin1').split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      const status = Number(statusLine.split(' ')[1]);
      const rest = data.subarray(end + 4);
      const length = headers['content-length'] === undefined ? null : Number(headers['content-length']);
      const chunked = headers['transfer-encoding'] !== undefined;
      if (!bodiless && !ended && length === null && status !== 204 && status !== 304 && !(chunked && rest.includes('0\r\n\r\n'))) return undefined;
      if (!bodiless && length !== null && rest.length < length) return ended ? fail(new Error('response cut off')) : undefined;
      const text = (length === null ? rest : rest.subarray(0, length)).toString('utf8');
      let body: unknown = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        /* not JSON */
      }
      finish({ status, headers, body, text });
    };
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      tryParse(false);
    });
    socket.on('end', () => tryParse(true));
    socket.on('error', fail);
    socket.write(bytes);
  });
}
