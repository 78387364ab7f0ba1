import { types } from 'node:util';
import type { Context, Next } from 'koa';
import { DomainError, type ErrorCode } from '../../shared/errors.ts';

/** The only table from error codes to HTTP statuses. */
export const STATUS: Record<ErrorCode, number> = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  not_open: 409,
  sold_out: 409,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  invalid: 422,
  rate_limited: 429,
  paused: 503,
  busy: 503,
  unavailable: 503,
};

/** Errors from Koa's own stack and libraries (Bull Board's body parser) that carry a 4xx status. */
const HTTP_CODES: Record<number, [ErrorCode, string]> = {
  400: ['bad_request', 'The request is malformed.'],
  404: ['not_found', 'No such route.'],
  405: ['method_not_allowed', 'This method is not allowed here.'],
  413: ['payload_too_large', 'The request body is too large.'],
  415: ['unsupported_media_type', 'The request body must be JSON.'],
};

/** zlib/brotli errors: a request body that does not match its Content-Encoding. */
const isBadEncoding = (err: Error) => /^(Z_|ERR__ERROR)/.test(String((err as { code?: unknown }).code ?? ''));

/** A backing service away, or a Redis Cluster failing over or moving slots: try again shortly (503). */
const isBackendDown = (err: Error) =>
  /enableOfflineQueue|Connection is closed|ECONNREFUSED|MaxRetriesPerRequest|ETIMEDOUT|timed out|Pool|connect/i.test(err.message)
  || /^(CLUSTERDOWN|TRYAGAIN|MOVED|ASK) |Too many Cluster redirections|Failed to refresh slots cache|None of startup nodes is available|Cluster isn't ready/.test(err.message);

/** What an error answers: status, error body and headers; `unhandled` when it is a bug (500, logged). */
export type ErrorAnswer = {
  status: number;
  body: { error: Record<string, unknown> };
  headers: Record<string, string>;
  unhandled?: Error;
};

/** The one mapping of any error to its answer, for Koa's chain and the purchase door alike. */
export function errorAnswer(e: unknown, authChallenge?: string): ErrorAnswer {
  // isNativeError also recognises errors made in another realm (Node core's, under a VM).
  const err = e instanceof Error || types.isNativeError(e) ? (e as Error) : new Error(String(e));
  const domain = toDomainError(err);
  if (!domain) return { status: 500, body: { error: { code: 'internal', message: 'Something went wrong on our side.' } }, headers: {}, unhandled: err };
  const headers: Record<string, string> = {};
  if (domain.retryAfterS !== undefined) headers['Retry-After'] = String(Math.max(1, domain.retryAfterS));
  if (domain.code === 'unauthorized') headers['WWW-Authenticate'] = authChallenge ?? 'Bearer';
  return { status: STATUS[domain.code], body: { error: { code: domain.code, message: domain.message, ...domain.details } }, headers };
}

/** Maps any error to the error body every API error has (README, API); registered first. */
export function errorHandler() {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.respond === false) return; // the client went away before its turn: nobody to answer
      if (ctx.status === 404 && ctx.body === undefined) throw new DomainError('not_found', 'No such route.');
    } catch (e) {
      const answer = errorAnswer(e, ctx.state.authChallenge as string | undefined);
      if (answer.unhandled) ctx.state.log?.error({ err: answer.unhandled }, 'unhandled error');
      ctx.status = answer.status;
      ctx.set(answer.headers);
      ctx.body = answer.body;
    }
  };
}

function toDomainError(err: Error): DomainError | null {
  if (err instanceof DomainError) return err;
  const status = (err as { status?: number }).status;
  if (status && HTTP_CODES[status]) return new DomainError(...HTTP_CODES[status]);
  if (isBadEncoding(err)) return new DomainError('bad_request', 'The request body does not match its Content-Encoding.');
  if (isBackendDown(err)) return new DomainError('unavailable', 'A backing service is unavailable; try again shortly.', {}, 1);
  return null;
}
