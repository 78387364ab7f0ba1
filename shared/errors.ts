/**
 * Domain errors carry a stable machine-readable `code`, never an HTTP status. The API's
 * error middleware holds the only `code → status` table.
 */
export type ErrorCode =
  | 'bad_request'
  | 'unauthorized'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'not_open'
  | 'sold_out'
  | 'conflict'
  | 'invalid'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'rate_limited'
  | 'paused'
  | 'busy'
  | 'unavailable';

export class DomainError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  /** Seconds a client should wait before retrying (sent as `Retry-After`). */
  readonly retryAfterS?: number;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, retryAfterS?: number) {
    // An expected outcome, not a bug: no stack trace (capturing one through the async
    // request stack is paid at the door by every 409; domain errors are never logged).
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = limit;
    this.name = 'DomainError';
    this.code = code;
    this.details = details;
    this.retryAfterS = retryAfterS;
  }
}

export const notFound = (what: string) => new DomainError('not_found', `${what} was not found.`);

export const invalid = (field: string, message: string) =>
  new DomainError('invalid', `${field}: ${message}`, { field });
