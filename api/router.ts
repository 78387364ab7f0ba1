import Router from '@koa/router';

/**
 * Every router of the API: paths match exactly as the API contract writes them, case-sensitive,
 * and a trailing slash makes another path (unknown, so 404). A path in another spelling
 * can then never reach a handler by a route other than the one its guards were made for.
 */
export function newRouter(prefix?: string): Router {
  return new Router({ sensitive: true, strict: true, ...(prefix ? { prefix } : {}) });
}
