import type { Context, Next } from 'koa';
import type { Logger } from '../../shared/logger.ts';
import { randomId } from '../../shared/random-ids.ts';

/**
 * Gives each request an id (from `X-Request-Id` when sane, else new), a logger carrying
 * it (`ctx.state.log`, made on first use: most requests never log), and one access-log
 * line at debug level. The id travels into the jobs the request causes.
 */
export function requestContext(logger: Logger) {
  const accessLog = logger.isLevelEnabled('debug');
  return async (ctx: Context, next: Next) => {
    const requestId = requestIdOf(ctx.get('X-Request-Id'));
    ctx.state = new RequestState(logger, requestId);
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      await next();
    } finally {
      if (accessLog) {
        const ms = performance.now() - started;
        ctx.state.log.debug({ method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round(ms * 10) / 10 }, 'request');
      }
    }
  };
}

/** The request's id: the client's `X-Request-Id` when sane, else a new one. */
export function requestIdOf(incoming: string | undefined): string {
  // 96 random bits in 16 characters: the id is stored with every ticket and job it causes.
  return incoming && /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomId(12);
}

/** `ctx.state` of a request: its id, and its logger once something logs. */
class RequestState {
  [key: string]: unknown;
  readonly requestId: string;
  private readonly root: Logger;
  private child?: Logger;

  constructor(root: Logger, requestId: string) {
    this.root = root;
    this.requestId = requestId;
  }

  get log(): Logger {
    this.child ??= this.root.child({ requestId: this.requestId });
    return this.child;
  }
}
