import type { IncomingMessage } from 'node:http';
import { finished, type Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import type { Context, Next } from 'koa';
import getRawBody from 'raw-body';
import { DomainError } from '../../shared/errors.ts';

declare module 'koa' {
  interface Request {
    /** The parsed JSON body (see jsonBody), undefined when there is none. */
    body?: unknown;
  }
}

const DECODERS: Record<string, () => NodeJS.ReadWriteStream> = {
  gzip: createGunzip,
  'x-gzip': createGunzip,
  deflate: createInflate,
  br: createBrotliDecompress,
};

/** Methods whose bodies a JSON endpoint reads; others' bodies are ignored. */
const WITH_BODY = new Set(['POST', 'PUT', 'PATCH']);

/**
 * Reads a JSON request body into `ctx.request.body` (gzip, deflate and br too), at most
 * `limit` bytes once decoded; undefined when the request has no body. Used by the
 * routes that take a body, so an unknown path is a 404 before anything is read.
 *
 * What a client gets wrong is a 4xx: 415 for a body that is not declared JSON (a form
 * body must not buy with defaults), 400 for bad JSON, an unknown Content-Encoding, a
 * body cut off or not matching its encoding, 413 over the limit. raw-body reads the
 * stream: it settles on every way a client can end one (aborted, closed before we began,
 * shorter or longer than declared), and a client that stalls is cut off by the server's
 * request timeout (see api/server.ts). The connection is closed after such an answer,
 * since part of the body may be unread.
 */
export function jsonBody(limit: number) {
  return async (ctx: Context, next: Next) => {
    await readJsonBody(ctx, limit);
    await next();
  };
}

const READ = Symbol('body read');

/** Reads the body as {@link jsonBody} does, once: a second call (the drop lane read it early) does nothing. */
export async function readJsonBody(ctx: Context, limit: number): Promise<void> {
  const state = ctx.request as typeof ctx.request & { [READ]?: true };
  if (state[READ] || !WITH_BODY.has(ctx.method) || !hasBody(ctx.req)) return;
  state[READ] = true;
  if (!ctx.request.is('application/json', '+json')) {
    ctx.set('Connection', 'close');
    throw new DomainError('unsupported_media_type', 'The request body must be JSON (Content-Type: application/json).');
  }
  const text = await readBody(ctx, limit);
  ctx.request.body = jsonBodyOf(text);
}

/** A chunked body, or a Content-Length above zero (clients send `Content-Length: 0` for none). */
export function hasBody(req: IncomingMessage): boolean {
  const { headers } = req;
  return headers['transfer-encoding'] !== undefined || Number(headers['content-length'] ?? 0) > 0;
}

/** A read body as JSON: none when it is only whitespace (see {@link parseJson}). */
export function jsonBodyOf(text: string): unknown {
  return text.trim() === '' ? undefined : parseJson(text);
}

/** Strict, as APIs expect: an object or an array, never a bare string, number or null. */
function parseJson(text: string): unknown {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new DomainError('bad_request', 'The request body is not valid JSON.');
  }
  if (typeof value !== 'object' || value === null) throw new DomainError('bad_request', 'The request body must be a JSON object.');
  return value;
}

async function readBody(ctx: Context, limit: number): Promise<string> {
  const req = ctx.req;
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  let source: Readable = req;
  if (encoding !== 'identity') {
    const decoder = DECODERS[encoding];
    if (!decoder) {
      ctx.set('Connection', 'close');
      throw new DomainError('bad_request', `Content-Encoding ${encoding} is not supported.`);
    }
    source = req.pipe(decoder()) as unknown as Readable;
    // A pipe does not pass on an aborted request: without this a body cut off mid-way
    // would leave the decoder, and the reader with it, waiting forever.
    finished(req, (err) => {
      if (err) source.destroy(err);
    });
  }
  try {
    const body = await getRawBody(source, { limit, length: encoding === 'identity' ? req.headers['content-length'] : null });
    return body.toString('utf8');
  } catch (err) {
    ctx.set('Connection', 'close');
    if (source !== req) source.destroy();
    throw bodyError(err as Error & { type?: string });
  }
}

export function bodyError(err: Error & { type?: string; code?: string }): DomainError {
  switch (err.type) {
    case 'entity.too.large':
      return new DomainError('payload_too_large', 'The request body is too large.');
    case 'request.size.invalid':
      return new DomainError('bad_request', 'The request body does not match its Content-Length.');
    case 'request.aborted':
    case 'stream.not.readable':
      return new DomainError('bad_request', 'The request body was cut off.');
    default:
      if (err.code === 'ERR_STREAM_PREMATURE_CLOSE' || err.code === 'ECONNRESET') {
        return new DomainError('bad_request', 'The request body was cut off.');
      }
      return new DomainError('bad_request', 'The request body does not match its Content-Encoding.');
  }
}
