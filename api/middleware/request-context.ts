import { randomBytes } from 'node:crypto';
import type { Context, Next } from 'koa';
import type { Logger } from '../../shared/logger.ts';

/**
 * Gives each request an id (from `X-Request-Id` when sane, else new), a child logger
 * carrying it, and one access-log line. The id travels into the jobs the request causes.
 */
export function requestContext(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    const incoming = ctx.get('X-Request-Id');
    // 96 random bits in 16 characters: the id is stored with every ticket and job it causes.
    const requestId = /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomBytes(12).toString('base64url');
    ctx.state.requestId = requestId;
    ctx.state.log = logger.child({ requestId });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      const ms = performance.now() - started;
      ctx.state.log.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
    }
  };
}
